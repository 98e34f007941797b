// Package openapi writes and shows cloudpay's OpenAPI 3.1 documents: JSON
// objects that keep their key order (so a generated document reads well and
// is the same byte for byte every time), JSON Schemas read from Go types,
// and the browsable page functions/local serves at /docs. No deployable
// imports it: each function serves its generated document from
// shared/httpapi, and the generator lives in that package's tests.
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Obj is a JSON object that keeps its keys in the order they were set.
type Obj struct {
	keys []string
	vals map[string]any
}

// O makes an object of key, value pairs.
func O(kv ...any) *Obj {
	if len(kv)%2 != 0 {
		panic("openapi.O: odd number of arguments")
	}
	o := &Obj{vals: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// Set sets key to v (keeping the key's first position) and returns o.
func (o *Obj) Set(key string, v any) *Obj {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
	return o
}

// Get returns the value at key.
func (o *Obj) Get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// Child returns the object at key, making it if there is none.
func (o *Obj) Child(key string) *Obj {
	if v, ok := o.vals[key].(*Obj); ok {
		return v
	}
	c := O()
	o.Set(key, c)
	return c
}

// Keys lists the keys in order.
func (o *Obj) Keys() []string { return append([]string(nil), o.keys...) }

// Len is the number of keys.
func (o *Obj) Len() int { return len(o.keys) }

// MarshalJSON writes the object with its keys in order.
func (o *Obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := Compact(k)
		b.Write(key)
		b.WriteByte(':')
		v, err := Compact(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Compact is v as compact JSON without HTML escaping: a document's
// descriptions and examples hold "<" and "&", read as they are.
func Compact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
