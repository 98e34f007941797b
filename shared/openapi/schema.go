package openapi

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// Mode says which side of the wire a type is read for. A request type
// refuses unknown fields (the handlers decode strictly) and requires the
// fields it is told; a response type requires every field it always
// writes (no omitempty or omitzero) and may write null for a nil slice or
// map.
type Mode int

const (
	Request Mode = iota
	Response
)

// Schemas reads JSON Schemas from Go types. Each struct becomes a named
// component (Components), referred to by $ref wherever it is used.
type Schemas struct {
	// Components holds the schemas, by name, in the order they were met.
	Components *Obj
	// Names overrides a struct's component name (by Go type name).
	Names map[string]string
	// Required lists a request component's required fields.
	Required map[string][]string
	// Fields adds keywords (description, enum, pattern, minimum, …) to a
	// component's field: "Order.status".
	Fields map[string]*Obj
	// Describe gives a component its description.
	Describe map[string]string

	named map[typeMode]string
	types map[string]typeMode
	used  map[string]bool
}

type typeMode struct {
	t reflect.Type
	m Mode
}

var timeType = reflect.TypeFor[time.Time]()

// Ref returns {"$ref": …} to the component of struct type t read in mode
// m, building it (and what it refers to) on first use.
func (s *Schemas) Ref(t reflect.Type, m Mode) *Obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		panic(fmt.Sprintf("openapi: Ref of %s, not a struct", t))
	}
	if s.Components == nil {
		s.Components = O()
		s.named, s.types, s.used = map[typeMode]string{}, map[string]typeMode{}, map[string]bool{}
	}
	key := typeMode{t, m}
	if name, ok := s.named[key]; ok {
		return ref(name)
	}
	name := s.name(t, m)
	if prev, ok := s.types[name]; ok && prev != key {
		panic(fmt.Sprintf("openapi: %s and %s are both named %s", prev.t, t, name))
	}
	s.named[key], s.types[name] = name, key
	obj := O("type", "object")
	s.Components.Set(name, obj) // placed first, filled after: a type may refer to itself
	if d, ok := s.Describe[name]; ok {
		obj.Set("description", d)
	}
	props := O()
	var required []string
	s.fields(t, m, name, props, &required)
	obj.Set("properties", props)
	if m == Request {
		required = s.Required[name]
		for _, f := range required {
			if _, ok := props.Get(f); !ok {
				panic(fmt.Sprintf("openapi: %s requires %s, which it does not have", name, f))
			}
		}
	}
	if len(required) > 0 {
		obj.Set("required", required)
	}
	obj.Set("additionalProperties", false)
	return ref(name)
}

func ref(name string) *Obj { return O("$ref", "#/components/schemas/"+name) }

// name is Names' name for t, else its Go name without a View or Request
// suffix, capitalised, with Request after it for a request.
func (s *Schemas) name(t reflect.Type, m Mode) string {
	if n, ok := s.Names[t.Name()]; ok {
		return n
	}
	n := strings.TrimSuffix(strings.TrimSuffix(t.Name(), "View"), "Request")
	r := []rune(n)
	r[0] = unicode.ToUpper(r[0])
	n = string(r)
	if m == Request {
		n += "Request"
	}
	return n
}

// fields adds t's JSON fields (those of embedded structs in place).
func (s *Schemas) fields(t reflect.Type, m Mode, comp string, props *Obj, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			s.fields(f.Type, m, comp, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		sch := s.Of(f.Type, m, !optional)
		if extra, ok := s.Fields[comp+"."+name]; ok {
			sch = merge(sch, extra)
		}
		props.Set(name, sch)
		if !optional {
			*required = append(*required, name)
		}
		s.used[comp+"."+name] = true
	}
}

// merge adds extra's keywords to a field's schema; a $ref is wrapped,
// since keywords beside it describe the reference, not the target.
func merge(sch, extra *Obj) *Obj {
	if _, isRef := sch.Get("$ref"); isRef {
		out := O("allOf", []any{sch})
		for _, k := range extra.Keys() {
			v, _ := extra.Get(k)
			out.Set(k, v)
		}
		return out
	}
	out := O()
	for _, k := range sch.Keys() {
		v, _ := sch.Get(k)
		out.Set(k, v)
	}
	for _, k := range extra.Keys() {
		v, _ := extra.Get(k)
		out.Set(k, v)
	}
	return out
}

// Of is the schema of a value of type t. nullable says whether a nil
// slice, map or pointer would be written as null (a response field
// without omitempty).
func (s *Schemas) Of(t reflect.Type, m Mode, nullable bool) *Obj {
	orNull := func(typ string) any {
		if nullable && m == Response {
			return []any{typ, "null"}
		}
		return typ
	}
	switch {
	case t == timeType:
		return O("type", "string", "format", "date-time")
	case t.Kind() == reflect.Pointer:
		inner := s.Of(t.Elem(), m, false)
		if nullable && m == Response {
			return O("anyOf", []any{inner, O("type", "null")})
		}
		return inner
	case t.Kind() == reflect.Struct:
		return s.Ref(t, m)
	}
	switch t.Kind() {
	case reflect.String:
		return O("type", "string")
	case reflect.Bool:
		return O("type", "boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return O("type", "integer")
	case reflect.Float32, reflect.Float64:
		return O("type", "number")
	case reflect.Slice, reflect.Array:
		return O("type", orNull("array"), "items", s.Of(t.Elem(), m, false))
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic(fmt.Sprintf("openapi: map key %s", t.Key()))
		}
		if t.Elem().Kind() == reflect.Interface {
			return O("type", orNull("object"))
		}
		return O("type", orNull("object"), "additionalProperties", s.Of(t.Elem(), m, false))
	case reflect.Interface:
		return O()
	}
	panic(fmt.Sprintf("openapi: no schema for %s", t))
}

// Unused lists the Fields keys that named no field of a built component:
// a field renamed or removed under its documentation.
func (s *Schemas) Unused() []string {
	var out []string
	for k := range s.Fields {
		if !s.used[k] {
			out = append(out, k)
		}
	}
	return out
}
