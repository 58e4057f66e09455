package nodeipc

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Message.Decode goes through a decoder of its own for the types it knows
// well, made once per type and kept: structs of exported, plainly named
// fields, maps with string keys, slices, arrays, pointers, strings, bools,
// numbers and empty interfaces. Its result is that of encoding/json's
// Unmarshal, which it hands every other case to: a type with methods of
// its own for JSON or text (time.Time, say), embedded structs, the
// ",string" option, json.Number, base64 bytes, and every value that
// encoding/json would refuse (a number out of range, a type mismatch).
//
// Handing a value over part way is safe because decoding the same JSON
// into a value twice gives what decoding it once does (encoding/json merges
// into what is there: struct fields and map entries it meets are set
// again, slices and arrays take the JSON array's length), and the fast
// decoder writes, up to where it stops, what encoding/json writes. The JSON
// is checked whole before anything is written, so a syntax error leaves
// the value untouched, as with encoding/json.

// fastDecode decodes data into v as json.Unmarshal does, and reports false
// where it left the work to json.Unmarshal (data must then be decoded by
// it, from the start).
func fastDecode(data []byte, v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // never expected; encoding/json decides
		}
	}()
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	start := wire.SkipWS(data, 0)
	end, ok := wire.ScanValue(data, start, 0)
	if !ok || wire.SkipWS(data, end) != len(data) {
		return false
	}
	d := decoderPool.Get().(*valueDecoder)
	d.data, d.i = data[:end], start
	ok = decoderOf(rv.Type().Elem()).decode(d, rv.Elem())
	d.data = nil
	decoderPool.Put(d)
	return ok
}

// decoderPool holds valueDecoders: one passed to the decoders' functions
// would otherwise be allocated for every message.
var decoderPool = sync.Pool{New: func() any { return new(valueDecoder) }}

// valueDecoder reads one valid JSON value from data, at i.
type valueDecoder struct {
	data []byte
	i    int
}

// typeDecoder decodes into values of one type; fn nil means the type is
// left to encoding/json.
type typeDecoder struct {
	fn func(d *valueDecoder, v reflect.Value) bool
}

func (td *typeDecoder) decode(d *valueDecoder, v reflect.Value) bool {
	if td.fn == nil {
		return false
	}
	d.i = wire.SkipWS(d.data, d.i)
	return td.fn(d, v)
}

var (
	decoderCache     codecCache[typeDecoder]
	jsonUnmarshalerT = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerT = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberT      = reflect.TypeFor[json.Number]()
)

func decoderOf(t reflect.Type) *typeDecoder { return cachedOf(&decoderCache, t, buildDecoder) }

// buildDecoder makes the decoder of t; building holds those being made,
// so that a recursive type refers to its own.
func buildDecoder(t reflect.Type, building map[reflect.Type]*typeDecoder) *typeDecoder {
	td, done := started(&decoderCache, building, t)
	if done {
		return td
	}
	if t.Implements(jsonUnmarshalerT) || reflect.PointerTo(t).Implements(jsonUnmarshalerT) ||
		t.Implements(textUnmarshalerT) || reflect.PointerTo(t).Implements(textUnmarshalerT) || t == jsonNumberT {
		return td
	}
	switch t.Kind() {
	case reflect.Bool:
		td.fn = decodeBool
	case reflect.String:
		td.fn = decodeString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		td.fn = decodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		td.fn = decodeUint
	case reflect.Float32, reflect.Float64:
		td.fn = decodeFloat
	case reflect.Interface:
		if t.NumMethod() == 0 {
			td.fn = decodeAny
		}
	case reflect.Pointer:
		td.fn = pointerDecoder(buildDecoder(t.Elem(), building))
	case reflect.Slice, reflect.Array:
		td.fn = arrayDecoder(buildDecoder(t.Elem(), building))
	case reflect.Map:
		if t.Key().Kind() == reflect.String && !reflect.PointerTo(t.Key()).Implements(textUnmarshalerT) {
			td.fn = mapDecoder(t, buildDecoder(t.Elem(), building))
		}
	case reflect.Struct:
		td.fn = structDecoder(t, building)
	}
	return td
}

// null reads a null at d.i, if there is one.
func (d *valueDecoder) null() bool {
	if d.i < len(d.data) && d.data[d.i] == 'n' {
		d.i += len("null")
		return true
	}
	return false
}

func decodeBool(d *valueDecoder, v reflect.Value) bool {
	switch d.data[d.i] {
	case 'n':
		d.i += len("null")
	case 't':
		d.i += len("true")
		v.SetBool(true)
	case 'f':
		d.i += len("false")
		v.SetBool(false)
	default:
		return false
	}
	return true
}

func decodeString(d *valueDecoder, v reflect.Value) bool {
	if d.null() {
		return true
	}
	if d.data[d.i] != '"' {
		return false
	}
	s, ok := d.str()
	if ok {
		v.SetString(s)
	}
	return ok
}

// str reads the string at d.i, unquoted as encoding/json does.
func (d *valueDecoder) str() (string, bool) {
	b, ok := d.strBytes()
	return string(b), ok
}

// strBytes reads the string at d.i; the result may alias d.data.
func (d *valueDecoder) strBytes() ([]byte, bool) {
	end, escaped, ok := wire.ScanString(d.data, d.i)
	if !ok {
		return nil, false
	}
	body := d.data[d.i+1 : end-1]
	d.i = end
	if !escaped {
		return body, true // valid UTF-8 and no control characters: checked
	}
	return unquoteJSON(body), true
}

// unquoteJSON undoes the escapes of a valid JSON string's body, as
// encoding/json does: a \u escape of half a surrogate pair that has no
// other half becomes U+FFFD.
func unquoteJSON(s []byte) []byte {
	b := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		c := s[r]
		if c != '\\' {
			b = append(b, c)
			r++
			continue
		}
		switch s[r+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			rr := hex4(s[r+2:])
			r += 6
			if utf16.IsSurrogate(rr) {
				rr1 := rune(-1)
				if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
					rr1 = hex4(s[r+2:])
				}
				if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
					b = utf8.AppendRune(b, dec)
					r += 6
					continue
				}
				rr = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, rr)
			continue
		default: // '"', '\\', '/'
			b = append(b, s[r+1])
		}
		r += 2
	}
	return b
}

// hex4 reads four hexadecimal digits (checked by the scanner).
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads the number at d.i.
func (d *valueDecoder) number() ([]byte, bool) {
	c := d.data[d.i]
	if c != '-' && (c < '0' || c > '9') {
		return nil, false
	}
	end, _ := wire.ScanNumber(d.data, d.i)
	n := d.data[d.i:end]
	d.i = end
	return n, true
}

func decodeInt(d *valueDecoder, v reflect.Value) bool {
	if d.null() {
		return true
	}
	item, ok := d.number()
	if !ok {
		return false
	}
	n, ok := parseInt(item)
	if !ok || v.OverflowInt(n) {
		return false
	}
	v.SetInt(n)
	return true
}

// parseInt is strconv.ParseInt(string(b), 10, 64) for the JSON number b,
// without the conversion.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) > 18 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func decodeUint(d *valueDecoder, v reflect.Value) bool {
	if d.null() {
		return true
	}
	item, ok := d.number()
	if !ok || item[0] == '-' {
		return false
	}
	var n uint64
	if len(item) > 19 {
		var err error
		if n, err = strconv.ParseUint(string(item), 10, 64); err != nil {
			return false
		}
	} else {
		for _, c := range item {
			if c < '0' || c > '9' {
				return false
			}
			n = n*10 + uint64(c-'0')
		}
	}
	if v.OverflowUint(n) {
		return false
	}
	v.SetUint(n)
	return true
}

func decodeFloat(d *valueDecoder, v reflect.Value) bool {
	if d.null() {
		return true
	}
	item, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(item), v.Type().Bits())
	if err != nil || v.OverflowFloat(f) {
		return false
	}
	v.SetFloat(f)
	return true
}

// decodeAny decodes into an empty interface: nil, bool, float64, string,
// []any or map[string]any, replacing what it held. One that holds a
// pointer is decoded into, by encoding/json.
func decodeAny(d *valueDecoder, v reflect.Value) bool {
	if !v.IsNil() && v.Elem().Kind() == reflect.Pointer && !v.Elem().IsNil() {
		return false
	}
	x, ok := d.anyValue()
	if !ok {
		return false
	}
	if x == nil {
		v.SetZero()
	} else {
		v.Set(reflect.ValueOf(x))
	}
	return true
}

// anyValue reads the value at d.i as encoding/json does into an empty
// interface.
func (d *valueDecoder) anyValue() (any, bool) {
	d.i = wire.SkipWS(d.data, d.i)
	switch c := d.data[d.i]; c {
	case 'n':
		d.i += len("null")
		return nil, true
	case 't':
		d.i += len("true")
		return true, true
	case 'f':
		d.i += len("false")
		return false, true
	case '"':
		return d.str()
	case '[':
		out := make([]any, 0)
		d.i = wire.SkipWS(d.data, d.i+1)
		if d.data[d.i] == ']' {
			d.i++
			return out, true
		}
		for {
			x, ok := d.anyValue()
			if !ok {
				return nil, false
			}
			out = append(out, x)
			if !d.next(']') {
				return out, true
			}
		}
	case '{':
		out := make(map[string]any)
		d.i = wire.SkipWS(d.data, d.i+1)
		if d.data[d.i] == '}' {
			d.i++
			return out, true
		}
		for {
			k, ok := d.str()
			if !ok {
				return nil, false
			}
			d.i = wire.SkipWS(d.data, d.i) + 1 // the colon
			x, ok := d.anyValue()
			if !ok {
				return nil, false
			}
			out[k] = x
			if !d.next('}') {
				return out, true
			}
			d.i = wire.SkipWS(d.data, d.i)
		}
	default:
		item, _ := d.number()
		f, err := strconv.ParseFloat(string(item), 64)
		if err != nil {
			return nil, false
		}
		return f, true
	}
}

// next reads what follows a member of an array or object: a comma, and
// then it reports true, or the closer.
func (d *valueDecoder) next(closer byte) bool {
	d.i = wire.SkipWS(d.data, d.i)
	c := d.data[d.i]
	d.i++
	return c != closer
}

func pointerDecoder(elem *typeDecoder) func(*valueDecoder, reflect.Value) bool {
	return func(d *valueDecoder, v reflect.Value) bool {
		if elem.fn == nil {
			return false
		}
		if d.null() {
			v.SetZero()
			return true
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return elem.fn(d, v.Elem())
	}
}

// arrayDecoder decodes into a slice or an array as encoding/json does:
// into the elements already there, growing a slice as needed, and then a
// slice is cut to the JSON array's length and an array's other elements
// are zeroed.
func arrayDecoder(elem *typeDecoder) func(*valueDecoder, reflect.Value) bool {
	return func(d *valueDecoder, v reflect.Value) bool {
		slice := v.Kind() == reflect.Slice
		if d.null() {
			if slice {
				v.SetZero()
			}
			return true
		}
		if d.data[d.i] != '[' || elem.fn == nil {
			return false
		}
		d.i = wire.SkipWS(d.data, d.i+1)
		i := 0
		if d.data[d.i] == ']' {
			d.i++
		} else {
			for {
				if slice {
					if i >= v.Cap() {
						v.Grow(1)
					}
					if i >= v.Len() {
						v.SetLen(i + 1)
					}
				}
				if i < v.Len() {
					if !elem.decode(d, v.Index(i)) {
						return false
					}
				} else {
					d.skip()
				}
				i++
				if !d.next(']') {
					break
				}
			}
		}
		if i < v.Len() {
			if !slice {
				for ; i < v.Len(); i++ {
					v.Index(i).SetZero()
				}
			} else {
				v.SetLen(i)
			}
		}
		if i == 0 && slice {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
		return true
	}
}

// skip passes over the value at d.i.
func (d *valueDecoder) skip() {
	d.i = wire.SkipWS(d.data, d.i)
	d.i, _ = wire.ScanValue(d.data, d.i, 0)
}

// mapDecoder decodes an object into a map with string keys as
// encoding/json does: into the map there (made if nil), each member's
// value decoded into a zero element and then stored.
func mapDecoder(t reflect.Type, elem *typeDecoder) func(*valueDecoder, reflect.Value) bool {
	kt := t.Key()
	return func(d *valueDecoder, v reflect.Value) bool {
		if d.null() {
			v.SetZero()
			return true
		}
		if d.data[d.i] != '{' || elem.fn == nil {
			return false
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		d.i = wire.SkipWS(d.data, d.i+1)
		if d.data[d.i] == '}' {
			d.i++
			return true
		}
		var mapElem reflect.Value
		for {
			key, ok := d.str()
			if !ok {
				return false
			}
			d.i = wire.SkipWS(d.data, d.i) + 1 // the colon
			if !mapElem.IsValid() {
				mapElem = reflect.New(t.Elem()).Elem()
			} else {
				mapElem.SetZero()
			}
			if !elem.decode(d, mapElem) {
				return false
			}
			kv := reflect.New(kt).Elem()
			kv.SetString(key)
			v.SetMapIndex(kv, mapElem)
			if !d.next('}') {
				return true
			}
			d.i = wire.SkipWS(d.data, d.i)
		}
	}
}

// fieldDecoder is a struct field a JSON member may name.
type fieldDecoder struct {
	name   string // as encoding/json names it
	folded string // name, case folded as encoding/json folds it
	index  int
	dec    *typeDecoder
}

// structDecoder decodes an object into a struct as encoding/json does: a
// member goes to the field of exactly its name, or else to the first field
// whose name equals it but for case, and members naming no field are
// passed over. A struct with embedded fields, or a field with the
// ",string" option, is left to encoding/json (nil).
func structDecoder(t reflect.Type, building map[reflect.Type]*typeDecoder) func(*valueDecoder, reflect.Value) bool {
	var fields []fieldDecoder
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, use, ok := jsonField(sf)
		if !ok {
			return nil
		}
		if !use {
			continue
		}
		for _, f := range fields {
			if f.name == name {
				return nil // encoding/json's rules for duplicates: left to it
			}
		}
		fields = append(fields, fieldDecoder{name: name, folded: string(foldName([]byte(name))), index: i,
			dec: buildDecoder(sf.Type, building)})
	}
	return func(d *valueDecoder, v reflect.Value) bool {
		if d.null() {
			return true
		}
		if d.data[d.i] != '{' {
			return false
		}
		d.i = wire.SkipWS(d.data, d.i+1)
		if d.data[d.i] == '}' {
			d.i++
			return true
		}
		for {
			key, ok := d.strBytes()
			if !ok {
				return false
			}
			d.i = wire.SkipWS(d.data, d.i) + 1 // the colon
			f := matchField(fields, key)
			if f == nil {
				d.skip()
			} else if !f.dec.decode(d, v.Field(f.index)) {
				return false
			}
			if !d.next('}') {
				return true
			}
			d.i = wire.SkipWS(d.data, d.i)
		}
	}
}

// matchField returns the field a member's key names, or nil.
func matchField(fields []fieldDecoder, key []byte) *fieldDecoder {
	for i := range fields {
		if fields[i].name == string(key) {
			return &fields[i]
		}
	}
	var buf [32]byte
	folded := appendFolded(buf[:0], key)
	for i := range fields {
		if fields[i].folded == string(folded) {
			return &fields[i]
		}
	}
	return nil
}

func foldName(in []byte) []byte { return appendFolded(nil, in) }

// appendFolded appends in case folded as encoding/json folds names:
// ASCII letters in upper case, every other letter as the smallest rune of
// its fold set.
func appendFolded(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// tagHas reports whether a comma-separated list of tag options holds opt.
func tagHas(opts, opt string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == opt {
			return true
		}
	}
	return false
}

// validTagName reports whether encoding/json takes name from a tag as a
// member's name (otherwise the field's name is used).
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
