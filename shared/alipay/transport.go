package alipay

import (
	"errors"
	"io"
	"net/http"
)

// maxAnswer bounds what is read from the gateway; real answers are a few
// KiB. The SDK reads the whole body.
const maxAnswer = 1 << 20

// gatewayTransport turns an answer that is not HTTP 200 into an error
// before the SDK sees it (the SDK would try to read a proxy's error page as
// JSON) and bounds the body it reads.
type gatewayTransport struct{ base http.RoundTripper }

func (t gatewayTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		return nil, &statusError{status: resp.StatusCode}
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxAnswer}
	return resp, nil
}

var errAnswerTooLarge = errors.New("alipay: answer larger than 1 MiB")

// limitedBody fails, rather than truncates, past its limit: a truncated
// answer must not parse.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left+1 { // one byte more than allowed tells "too large" from "exactly the limit"
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errAnswerTooLarge
	}
	return n, err
}
