package nodeipc

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Emit encodes the data of plain types through an encoder of its own, made
// once per type and kept: structs of exported, plainly named fields (with
// omitempty and omitzero), maps with string keys, slices, arrays,
// pointers, strings, bools, numbers and interfaces holding those. It writes
// what encoding/json writes with HTML escaping off, U+2028 and U+2029 left
// raw as JSON.stringify leaves them. Every other case goes to
// encoding/json: types with MarshalJSON or MarshalText methods (time.Time,
// json.RawMessage inside a value, say), embedded structs, the ",string"
// option, json.Number, values encoding/json refuses (NaN, a cycle).

// appendFast appends the JSON of v and reports whether it could; when it
// could not, dst may hold part of it, and the caller cuts it off.
func appendFast(dst []byte, v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return append(dst, "null"...), true
	}
	return encoderOf(rv.Type()).encode(dst, rv, 0)
}

// maxEncodeDepth bounds the pointers, maps, slices and interfaces the fast
// encoder follows into each other; deeper values (a cycle, perhaps) go to
// encoding/json, which tells a cycle from a deep value.
const maxEncodeDepth = 1000

// typeEncoder encodes values of one type; fn nil means the type is left to
// encoding/json.
type typeEncoder struct {
	fn func(dst []byte, v reflect.Value, depth int) ([]byte, bool)
}

func (te *typeEncoder) encode(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
	if te.fn == nil {
		return dst, false
	}
	return te.fn(dst, v, depth)
}

var (
	encoderCache     codecCache[typeEncoder]
	jsonMarshalerT   = reflect.TypeFor[json.Marshaler]()
	textMarshalerT   = reflect.TypeFor[encoding.TextMarshaler]()
	isZeroerT        = reflect.TypeFor[interface{ IsZero() bool }]()
	base64StdEncoder = base64.StdEncoding
)

func encoderOf(t reflect.Type) *typeEncoder { return cachedOf(&encoderCache, t, buildEncoder) }

// started returns t's codec from cache or from those being built (done),
// or else a new one, now among those being built.
func started[C any](cache *codecCache[C], building map[reflect.Type]*C, t reflect.Type) (c *C, done bool) {
	if e, ok := cache.m.Load(t); ok {
		return e.(*codecEntry[C]).c, true
	}
	if c, ok := building[t]; ok {
		return c, true
	}
	c = new(C)
	building[t] = c
	return c, false
}

// codecCache holds the codecs made for each type, and the entry found
// last: a program that emits or decodes one type over and over finds its
// codec without hashing the type (in the benchmark's typical client, the
// lookups cost 3% of its CPU).
type codecCache[C any] struct {
	m    sync.Map // reflect.Type -> *codecEntry[C]
	last atomic.Pointer[codecEntry[C]]
}

// codecEntry is a type's codec; one is made per type, so that finding it
// again allocates nothing.
type codecEntry[C any] struct {
	t reflect.Type
	c *C
}

// cachedOf returns the codec of t from cache, building it (and those of the
// types it contains, recursive ones included) on first use.
func cachedOf[C any](cache *codecCache[C], t reflect.Type, build func(reflect.Type, map[reflect.Type]*C) *C) *C {
	if e := cache.last.Load(); e != nil && e.t == t {
		return e.c
	}
	if v, ok := cache.m.Load(t); ok {
		e := v.(*codecEntry[C])
		cache.last.Store(e)
		return e.c
	}
	building := map[reflect.Type]*C{}
	c := build(t, building)
	for bt, b := range building {
		cache.m.LoadOrStore(bt, &codecEntry[C]{t: bt, c: b})
	}
	return c
}

func marshals(t reflect.Type) bool {
	return t.Implements(jsonMarshalerT) || t.Implements(textMarshalerT) ||
		t.Kind() != reflect.Interface && (reflect.PointerTo(t).Implements(jsonMarshalerT) || reflect.PointerTo(t).Implements(textMarshalerT))
}

// buildEncoder makes the encoder of t; building holds those being made,
// so that a recursive type refers to its own.
func buildEncoder(t reflect.Type, building map[reflect.Type]*typeEncoder) *typeEncoder {
	te, done := started(&encoderCache, building, t)
	if done {
		return te
	}
	if t.Kind() != reflect.Interface && marshals(t) || t == jsonNumberT {
		return te
	}
	switch t.Kind() {
	case reflect.Bool:
		te.fn = encodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		te.fn = encodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		te.fn = encodeUint
	case reflect.Float32, reflect.Float64:
		te.fn = encodeFloat
	case reflect.String:
		te.fn = encodeString
	case reflect.Interface:
		te.fn = encodeInterface
	case reflect.Pointer:
		te.fn = pointerEncoder(buildEncoder(t.Elem(), building))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !marshals(t.Elem()) {
			te.fn = encodeBytes
			break
		}
		te.fn = arrayEncoder(buildEncoder(t.Elem(), building), true)
	case reflect.Array:
		te.fn = arrayEncoder(buildEncoder(t.Elem(), building), false)
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			te.fn = mapEncoder(buildEncoder(t.Elem(), building))
		}
	case reflect.Struct:
		te.fn = structEncoder(t, building)
	}
	return te
}

func encodeBool(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	return strconv.AppendBool(dst, v.Bool()), true
}

func encodeInt(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	return strconv.AppendInt(dst, v.Int(), 10), true
}

func encodeUint(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	return strconv.AppendUint(dst, v.Uint(), 10), true
}

// encodeFloat writes a float as encoding/json does (which is as
// JavaScript writes a number): float32 values at their own precision.
func encodeFloat(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, false
	}
	bits := v.Type().Bits()
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

func encodeString(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	return wire.AppendGoString(dst, v.String()), true
}

func encodeBytes(dst []byte, v reflect.Value, _ int) ([]byte, bool) {
	if v.IsNil() {
		return append(dst, "null"...), true
	}
	dst = append(dst, '"')
	dst = base64StdEncoder.AppendEncode(dst, v.Bytes())
	return append(dst, '"'), true
}

func encodeInterface(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
	if v.IsNil() {
		return append(dst, "null"...), true
	}
	if depth++; depth > maxEncodeDepth {
		return dst, false
	}
	e := v.Elem()
	return encoderOf(e.Type()).encode(dst, e, depth)
}

func pointerEncoder(elem *typeEncoder) func([]byte, reflect.Value, int) ([]byte, bool) {
	return func(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
		if v.IsNil() {
			return append(dst, "null"...), true
		}
		if depth++; depth > maxEncodeDepth {
			return dst, false
		}
		return elem.encode(dst, v.Elem(), depth)
	}
}

func arrayEncoder(elem *typeEncoder, slice bool) func([]byte, reflect.Value, int) ([]byte, bool) {
	return func(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
		if slice {
			if v.IsNil() {
				return append(dst, "null"...), true
			}
			if depth++; depth > maxEncodeDepth {
				return dst, false
			}
		}
		dst = append(dst, '[')
		n := v.Len()
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = elem.encode(dst, v.Index(i), depth); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
}

// mapEncoder writes a map with string keys as encoding/json does: its
// entries in the order of their keys.
func mapEncoder(elem *typeEncoder) func([]byte, reflect.Value, int) ([]byte, bool) {
	return func(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
		if v.IsNil() {
			return append(dst, "null"...), true
		}
		if depth++; depth > maxEncodeDepth {
			return dst, false
		}
		type entry struct {
			k string
			v reflect.Value
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			entries = append(entries, entry{it.Key().String(), it.Value()})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		dst = append(dst, '{')
		for i, e := range entries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = wire.AppendGoString(dst, e.k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = elem.encode(dst, e.v, depth); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	}
}

// fieldEncoder is a struct field as encoding/json writes it.
type fieldEncoder struct {
	prefix    string // `"name":`
	index     int
	omitEmpty bool
	omitZero  bool
	enc       *typeEncoder
}

// structEncoder writes a struct's fields in their order, as encoding/json
// does. A struct with embedded fields, fields of one name, the ",string"
// option, or omitzero on a type with an IsZero method, is left to
// encoding/json (nil).
func structEncoder(t reflect.Type, building map[reflect.Type]*typeEncoder) func([]byte, reflect.Value, int) ([]byte, bool) {
	var fields []fieldEncoder
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, use, ok := jsonField(sf)
		if !ok {
			return nil
		}
		if !use {
			continue
		}
		if slices.Contains(names, name) {
			return nil
		}
		names = append(names, name)
		f := fieldEncoder{prefix: `"` + name + `":`, index: i, omitEmpty: tagHas(opts, "omitempty"),
			omitZero: tagHas(opts, "omitzero"), enc: buildEncoder(sf.Type, building)}
		if f.omitZero && (sf.Type.Implements(isZeroerT) || reflect.PointerTo(sf.Type).Implements(isZeroerT)) {
			return nil
		}
		fields = append(fields, f)
	}
	return func(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
		dst = append(dst, '{')
		first := true
		for i := range fields {
			f := &fields[i]
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) || f.omitZero && fv.IsZero() {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, f.prefix...)
			var ok bool
			if dst, ok = f.enc.encode(dst, fv, depth); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	}
}

// isEmptyValue is what omitempty omits: false, 0, "", a nil pointer or
// interface, an empty array, slice or map.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// jsonField reads a struct field as encoding/json does: its member name
// (the tag's, or the field's own) and the tag's options; use is false for a
// field encoding/json passes over (unexported, or tagged "-"), and ok is
// false for one the value codecs leave to encoding/json (an embedded field,
// or the ",string" option).
func jsonField(sf reflect.StructField) (name, opts string, use, ok bool) {
	if sf.Anonymous {
		return "", "", false, false
	}
	tag := sf.Tag.Get("json")
	if !sf.IsExported() || tag == "-" {
		return "", "", false, true
	}
	name, opts, _ = strings.Cut(tag, ",")
	if tagHas(opts, "string") {
		return "", "", false, false
	}
	if !validTagName(name) {
		name = sf.Name
	}
	return name, opts, true, true
}
