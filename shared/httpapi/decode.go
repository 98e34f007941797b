package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// MaxBody is the largest request body accepted (design.md §3).
const MaxBody = 64 << 10

// readBody reads at most MaxBody bytes; a larger body is refused whole.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return readBodyLimit(w, r, MaxBody)
}

func readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, cloudpay.Errorf(cloudpay.CodeBodyTooLarge, "request body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body could not be read")
	}
	return raw, nil
}

// bind reads and strictly decodes the request body into dst; on failure it
// has written the error response and returns false.
func bind(c *gin.Context, dst any) bool { return bindLimit(c, dst, MaxBody) }

// bindLimit is bind for the few routes that take larger bodies.
func bindLimit(c *gin.Context, dst any, limit int64) bool {
	raw, err := readBodyLimit(c.Writer, c.Request, limit)
	if err == nil {
		err = decodeStrict(raw, dst)
	}
	if err != nil {
		fail(c, err)
		return false
	}
	return true
}

// bindOptional is bind for routes whose body may be left out entirely.
func bindOptional(c *gin.Context, dst any) bool {
	raw, err := readBody(c.Writer, c.Request)
	if err == nil && len(bytes.TrimSpace(raw)) > 0 {
		err = decodeStrict(raw, dst)
	}
	if err != nil {
		fail(c, err)
		return false
	}
	return true
}

// decodeStrict decodes one JSON object into dst: unknown fields, trailing
// data and values of the wrong type are refused with the field named.
func decodeStrict(raw []byte, dst any) error {
	if err := checkKeys(raw, dst); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() || trailing(dec) {
			return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body must be a single JSON object")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body must be a JSON object")
		}
		return cloudpay.FieldError(field, "%s must be %s", field, describe(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &cloudpay.Error{Code: cloudpay.CodeUnknownField, Field: field, Message: fmt.Sprintf("unknown field %q", field)}
	}
	return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body is not valid JSON")
}

func trailing(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err != io.EOF
}

func describe(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "a whole number (an integer amount of fen or minutes, within range)"
	case "string":
		return "a string"
	}
	return "of type " + kind
}

// checkKeys refuses top-level keys that are not exactly one of dst's JSON
// names, and keys given twice. encoding/json alone would accept "Amount_Fen"
// for amount_fen and let the last of two copies win silently.
func checkKeys(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body must be a JSON object")
	}
	known := jsonNames(reflect.TypeOf(dst))
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body is not valid JSON")
		}
		key, _ := tok.(string)
		if !known[key] {
			return &cloudpay.Error{Code: cloudpay.CodeUnknownField, Field: key, Message: fmt.Sprintf("unknown field %q", key)}
		}
		if seen[key] {
			return &cloudpay.Error{Code: cloudpay.CodeInvalidJSON, Field: key, Message: fmt.Sprintf("field %q is given twice", key)}
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return cloudpay.Errorf(cloudpay.CodeInvalidJSON, "request body is not valid JSON")
		}
	}
	return nil
}

// jsonNames lists the JSON names of a struct's fields.
func jsonNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// query returns the request's query parameters after refusing unknown and
// repeated ones; on failure it has written the error response.
func query(c *gin.Context, allowed []string) (url.Values, bool) {
	q := c.Request.URL.Query()
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			fail(c, &cloudpay.Error{Code: cloudpay.CodeUnknownField, Field: name, Message: "unknown query parameter " + strconv.Quote(name)})
			return nil, false
		}
		if len(vs) > 1 {
			fail(c, cloudpay.FieldError(name, "%s is given more than once", name))
			return nil, false
		}
	}
	return q, true
}
