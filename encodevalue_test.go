package nodeipc

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

type encZeroer struct{ N int }

func (e encZeroer) IsZero() bool { return e.N < 0 }

type encInner struct {
	A int    `json:"a"`
	B string `json:",omitempty"`
	C *encInner
	D []int `json:"d,omitzero"`
}

type encAll struct {
	Int       int
	I8        int8
	I64       int64
	U8        uint8
	U64       uint64
	Uptr      uintptr
	F32       float32
	F64       float64
	Bool      bool
	Str       string `json:"str"`
	Named     namedString
	NamedInt  namedInt
	Ptr       *int
	PtrPtr    **string
	Any       any
	Slice     []string
	Arr       [2]int
	Bytes     []byte
	ByteArr   [3]byte
	Map       map[string]int
	MapAny    map[string]any
	NamedKeys map[namedString]bool
	IntKeys   map[int]string
	Inner     encInner
	InnerPtr  *encInner `json:",omitempty"`
	Inners    []encInner
	Skip      int `json:"-"`
	//lint:ignore SA5008 encoding/json's handling of this tag is what is tested
	Dash  int `json:"-,"`
	unexp int
	//lint:ignore SA5008 encoding/json's handling of this tag is what is tested
	BadTag int    `json:"a\"b"`
	Uni    string `json:"ünï,omitempty"`
	Empty  struct{}
	OmitE  []int           `json:",omitempty"`
	OmitZ  [2]int          `json:",omitzero"`
	OmitZM encZeroer       `json:",omitzero"`
	Time   time.Time       `json:",omitempty"`
	Raw    json.RawMessage `json:",omitempty"`
	Num    json.Number     `json:",omitempty"`
	Quoted int             `json:",string"`
	Iface  interface{ IsZero() bool }
}

type encEmbedded struct {
	encInner
	E int
}

type encRec struct {
	Name string
	Next *encRec
	Kids []encRec
}

// encodeSamples are values of many shapes; each must encode to what
// encoding/json (HTML escaping off, U+2028 and U+2029 raw) writes. (A
// string or a float32 as the whole of the data has a writer of its own, as
// JSON.stringify writes it: not compared here.)
func encodeSamples() []any {
	n := 5
	s := "pp"
	ps := &s
	cyc := &encRec{Name: "c"}
	cyc.Next = cyc
	deep := &encRec{Name: "d"}
	for range 1500 {
		deep = &encRec{Next: deep}
	}
	all := encAll{Int: -1, I8: -8, I64: math.MaxInt64, U8: 255, U64: math.MaxUint64, Uptr: 7, F32: 0.1, F64: 1e21,
		Bool: true, Str: "a\"b\\c\n\t\x00\x1f\x7f<>&\u2028\u2029\xff\xfeé😀", Named: "n", NamedInt: 3, Ptr: &n, PtrPtr: &ps,
		Any: map[string]any{"z": 1, "a": []any{nil, 1.5, "x", true}}, Slice: []string{"x", ""}, Arr: [2]int{1, 2},
		Bytes: []byte("hello\x00"), ByteArr: [3]byte{1, 2, 3}, Map: map[string]int{"b": 2, "a": 1, "é": 3, "A": 0},
		MapAny: map[string]any{}, NamedKeys: map[namedString]bool{"k": true}, IntKeys: map[int]string{10: "x", 9: "y"},
		Inner: encInner{A: 1, C: &encInner{B: "b"}}, Inners: []encInner{{}, {D: []int{}}}, Skip: 1, Dash: 2, unexp: 3,
		BadTag: 4, Uni: "u", OmitZM: encZeroer{N: -1}, Time: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		Raw: json.RawMessage(`{"r": [1, 2]}`), Num: "12.50", Quoted: 9}
	return []any{
		all, &all, encAll{}, encInner{}, &encInner{A: 1}, encEmbedded{E: 1}, encRec{Name: "r", Kids: []encRec{{Name: "k"}}},
		cyc, deep, (*encInner)(nil), []encInner(nil), []any{1, "a", nil, encInner{}},
		map[string]any{"nan": math.NaN()}, []float64{1, 1e-7, 123456789, 1e20, 1e21, math.Copysign(0, -1), 5e-324, math.MaxFloat64},
		[]float32{0.1, 1e-7, 1e20, 1e21, 3.4e38, float32(math.SmallestNonzeroFloat32)}, []any{float32(0.1)}, []float64{math.Inf(1)},
		map[string]*encInner{"x": nil, "y": {A: 2}}, map[namedString]namedInt{"q": 1}, map[bool]int{true: 1},
		[][]byte{nil, {}, {0xff}}, [0]int{}, struct{}{}, struct{ A, B int }{1, 2},
		struct {
			A int `json:"x"`
			X int
		}{1, 2},
		struct{ F func() }{}, struct{ C chan int }{}, struct{ C complex128 }{1}, namedString("ns"), namedInt(-3), uint16(9),
		int8(-1), uintptr(1), json.Number("3"), time.Time{}, []string{strings.Repeat("long\u2028", 100), "\xff"},
		map[string]any{"t": time.Time{}}, []any{map[string]any{"deep": []any{[]any{[]any{}}}}},
	}
}

// encodedByJSON is what the encoder wrote before it had a fast path: the
// JSON of encoding/json without HTML escaping, \u2028 and \u2029 as raw
// UTF-8.
func encodedByJSON(v any) ([]byte, error) {
	return wire.AppendMarshaled(nil, v, false)
}

func checkEncodeMatches(t *testing.T, v any) {
	t.Helper()
	want, wantErr := encodedByJSON(v)
	got, gotErr := appendData([]byte("prefix"), v, false)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%T: error %v, encoding/json's %v", v, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%T:\ngot  %s\nwant prefix%s", v, got, want)
	}
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	for _, v := range encodeSamples() {
		checkEncodeMatches(t, v)
	}
}

func TestEncodeFastPathTaken(t *testing.T) {
	if _, ok := appendFast(nil, encInner{A: 1, C: &encInner{}}); !ok {
		t.Fatal("a plain struct went to encoding/json")
	}
	if _, ok := appendFast(nil, map[string]any{"a": []any{1, "x"}}); !ok {
		t.Fatal("a map of any went to encoding/json")
	}
	if _, ok := appendFast(nil, time.Time{}); ok {
		t.Fatal("time.Time was not left to encoding/json")
	}
}

func TestEncodeLegacyNullAndEmptyString(t *testing.T) {
	for _, v := range []any{(*encInner)(nil), namedString(""), []int(nil)} {
		got, err := appendData(nil, v, true)
		if err != nil || string(got) != "{}" {
			t.Fatalf("%#v in legacy mode: %s, %v; want {}", v, got, err)
		}
	}
}

// FuzzEncodeMatchesEncodingJSON encodes values built from the fuzzer's
// strings, numbers and flags into every kind of field.
func FuzzEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add("a", "b\u2028", int64(1), 1.5, float32(0.25), true, []byte("x"))
	f.Add("\xff<>&\"\\", "", int64(-1), 1e-7, float32(1e21), false, []byte(nil))
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, f64 float64, f32 float32, b bool, raw []byte) {
		v := encAll{Int: int(i), I8: int8(i), I64: i, U8: uint8(i), U64: uint64(i), F32: f32, F64: f64, Bool: b,
			Str: s1, Named: namedString(s2), Any: map[string]any{s1: s2, s2: f64}, Slice: []string{s1, s2},
			Bytes: raw, Map: map[string]int{s1: int(i), s2: 0}, MapAny: map[string]any{s2: []any{s1, b, i}},
			Inner: encInner{A: int(i), B: s2, D: []int{int(i)}}, Uni: s1, Num: json.Number("1")}
		if b {
			v.Inners = []encInner{{B: s1}}
			v.Ptr = new(int)
		}
		checkEncodeMatches(t, v)
		checkEncodeMatches(t, map[string]any{s1: v.Inner, s2: []any{f32, f64, s1}})
		checkEncodeMatches(t, namedString(s1))
	})
}

// TestCodecCacheAlternatingTypes checks the codec caches' last-found entry:
// types looked up in turn each get their own codec, and finding one again,
// the last or another, allocates nothing.
func TestCodecCacheAlternatingTypes(t *testing.T) {
	type first struct{ A int }
	type second struct{ B string }
	ft, st := reflect.TypeFor[first](), reflect.TypeFor[second]()
	fe, se := encoderOf(ft), encoderOf(st)
	fd, sd := decoderOf(ft), decoderOf(st)
	if fe == se || fd == sd {
		t.Fatal("two types share a codec")
	}
	// Each type twice in a row (found as the last entry), then in turn.
	for i, ty := range []reflect.Type{ft, ft, st, st, ft, st, ft} {
		want, wantDec := fe, fd
		if ty == st {
			want, wantDec = se, sd
		}
		if encoderOf(ty) != want || decoderOf(ty) != wantDec {
			t.Fatalf("lookup %d (%v): the type's codec changed", i, ty)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		_, _ = encoderOf(ft), encoderOf(st)
		_, _ = decoderOf(st), decoderOf(st)
	}); n != 0 {
		t.Errorf("finding codecs allocates %v times per run", n)
	}
	var b []byte
	for i, v := range []any{first{1}, second{"x"}, first{2}, second{"y"}} {
		b = b[:0]
		var ok bool
		b, ok = encoderOf(reflect.TypeOf(v)).encode(b, reflect.ValueOf(v), 0)
		want, _ := json.Marshal(v)
		if !ok || string(b) != string(want) {
			t.Errorf("value %d: encoded %s (%v), want %s", i, b, ok, want)
		}
	}
}
