package nodeipc

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type namedString string
type namedInt int

type decInner struct {
	A int    `json:"a"`
	B string `json:",omitempty"`
	C *decInner
	D []int
}

type decAll struct {
	Int       int
	I8        int8
	I16       int16
	I32       int32
	I64       int64
	Uint      uint
	U8        uint8
	U16       uint16
	U32       uint32
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
	Map       map[string]int
	MapAny    map[string]any
	NamedKeys map[namedString]bool
	Inner     decInner
	InnerPtr  *decInner
	Inners    []decInner
	InnerMap  map[string]*decInner
	Skip      int `json:"-"`
	//lint:ignore SA5008 encoding/json's handling of this tag is what is tested
	Dash       int `json:"-,"`
	unexported int
	//lint:ignore SA5008 encoding/json's handling of this tag is what is tested
	BadTag      int    `json:"a\"b"`
	Case        int    `json:"CaseName"`
	Uni         string `json:"ünï"`
	Kelvin      int    `json:"k"`
	Empty       struct{}
	Iface       fmt.Stringer
	Time        time.Time       // UnmarshalJSON: encoding/json's
	Raw         json.RawMessage // UnmarshalJSON: encoding/json's
	Num         json.Number
	Quoted      int `json:",string"`
	AnyPtr      any
	SliceOfAny  []any
	ArrOfInner  [1]decInner
	MapOfSlices map[string][]string
}

type decEmbedded struct {
	decInner
	E int
}

type decRec struct {
	Name string
	Kids []decRec
	Next *decRec
}

// decDup has two fields named X: encoding/json's rules pick the tagged one.
type decDup struct {
	A int `json:"X"`
	X int
}

// decodeTargets makes fresh values to decode into: pointers to each type,
// zero, and some holding values already (decoding merges into them).
func decodeTargets() []func() any {
	prefilled := func() any {
		n := 7
		s := "s"
		ps := &s
		v := &decAll{Int: 1, Str: "old", Ptr: &n, PtrPtr: &ps, Any: map[string]any{"k": 1.0},
			Slice: make([]string, 1, 4), Map: map[string]int{"keep": 1}, InnerPtr: &decInner{A: 5, B: "b"},
			Inners: make([]decInner, 1, 3), Arr: [2]int{8, 9}, Bytes: []byte("xy"), AnyPtr: &n,
			MapAny: map[string]any{"a": "b"}, unexported: 3}
		v.Slice[0] = "first"
		v.Slice = append(v.Slice, "stale")[:1] // stale bytes past the length
		v.Inners = append(v.Inners, decInner{A: 99, D: []int{1}})[:1]
		return v
	}
	return []func() any{
		func() any { return new(decAll) },
		prefilled,
		func() any { return new(decInner) },
		func() any { return &decInner{A: 1, C: &decInner{B: "x"}, D: []int{1, 2, 3}} },
		func() any { return new(any) },
		func() any { var x any = map[string]any{"z": true}; return &x },
		func() any { return new(map[string]any) },
		func() any { return &map[string]int{"a": 1} },
		func() any { return new([]int) },
		func() any { s := make([]int, 2, 5); return &s },
		func() any { return new([]decInner) },
		func() any { return new([3]string) },
		func() any { return new(string) },
		func() any { return new(int8) },
		func() any { return new(uint16) },
		func() any { return new(float32) },
		func() any { return new(bool) },
		func() any { return new(*decInner) },
		func() any { return new(decEmbedded) },
		func() any { return new(decRec) },
		func() any { return new(decDup) },
		func() any { return new(map[string]*decInner) },
		func() any { return new([]any) },
		func() any { return new(map[namedString]namedInt) },
		func() any { return new(json.RawMessage) },
		func() any { return new(time.Time) },
	}
}

// checkDecodeMatches decodes data into each target with Message.Decode and
// with json.Unmarshal, and fails where the results or the errors differ.
func checkDecodeMatches(t *testing.T, data []byte) {
	t.Helper()
	for i, mk := range decodeTargets() {
		want, got := mk(), mk()
		wantErr := json.Unmarshal(data, want)
		gotErr := (&Message{Data: data}).Decode(got)
		if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
			t.Fatalf("target %d (%T), data %q: error %v, encoding/json's %v", i, want, data, gotErr, wantErr)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("target %d (%T), data %q:\ngot  %#v\nwant %#v", i, want, data, got, want)
		}
	}
}

var decodeSamples = []string{
	`{"Int":1,"I8":-128,"I16":32767,"I32":-5,"I64":9007199254740993,"Uint":7,"U8":255,"U16":1,"U32":2,"U64":18446744073709551615,"Uptr":3}`,
	`{"I8":128}`, `{"U8":-1}`, `{"Int":1.5}`, `{"Int":1e3}`, `{"Int":"1"}`, `{"U64":18446744073709551616}`,
	`{"I64":-9223372036854775808}`, `{"I64":9223372036854775808}`, `{"Int":-0}`, `{"Int":0123}`,
	`{"F32":3.4e38,"F64":1.7976931348623157e308}`, `{"F32":3.5e38}`, `{"F64":1e400}`, `{"F32":0.1,"F64":-2.5e-7}`,
	`{"Bool":true}`, `{"Bool":false}`, `{"Bool":null}`, `{"Bool":1}`, `{"Bool":"true"}`,
	`{"str":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00\ud800\ud800"}`, `{"STR":"folded"}`, `{"str":null}`,
	`{"Str":"case","str":"exact"}`, `{"str":"exact","Str":"case"}`, `{"str":5}`,
	`{"Named":"n","NamedInt":4}`, `{"Ptr":3,"PtrPtr":"pp"}`, `{"Ptr":null,"PtrPtr":null}`, `{"PtrPtr":7}`,
	`{"Any":null}`, `{"Any":[1,"a",null,true,{"x":[]}]}`, `{"Any":{"a":{"b":{}}}}`, `{"Any":1e400}`,
	`{"Slice":["a","b","c"]}`, `{"Slice":[]}`, `{"Slice":null}`, `{"Slice":[1]}`, `{"Slice":"x"}`,
	`{"Arr":[1]}`, `{"Arr":[1,2,3]}`, `{"Arr":null}`, `{"Arr":[]}`,
	`{"Bytes":"eHl6"}`, `{"Bytes":[1,2]}`, `{"Bytes":null}`,
	`{"Map":{"a":1,"b":2,"a":3}}`, `{"Map":null}`, `{"Map":{"x":"y"}}`, `{"Map":{}}`, `{"MapAny":{"n":null}}`,
	`{"NamedKeys":{"k":true}}`,
	`{"Inner":{"a":1,"B":"b","C":{"a":2,"C":null},"D":[1,2]},"Inner":{"D":[3]}}`,
	`{"InnerPtr":{"a":9}}`, `{"InnerPtr":null}`, `{"Inners":[{"a":1},{"B":"x","D":[]}]}`, `{"Inners":[{"D":[5]},{}]}`,
	`{"InnerMap":{"a":{"a":1},"b":null}}`,
	`{"Skip":1,"-":2,"Dash":3}`, `{"unexported":1}`, `{"BadTag":1,"a\"b":2}`,
	`{"casename":1}`, `{"CASENAME":2}`, `{"CaseName":3}`, `{"ÜNÏ":"u"}`, `{"ünï":"v"}`, `{"K":1}`, `{"\u212a":2}`,
	`{"Empty":{"x":1}}`, `{"Empty":[]}`, `{"Iface":null}`, `{"Iface":"x"}`,
	`{"Time":"2024-01-02T03:04:05Z"}`, `{"Time":"bad"}`, `{"Raw":{"a": [1, 2]}}`, `{"Num":12.5}`, `{"Num":"x"}`,
	`{"Quoted":"5"}`, `{"AnyPtr":5}`, `{"AnyPtr":null}`, `{"SliceOfAny":[[],{}]}`, `{"ArrOfInner":[{"a":1},{"a":2}]}`,
	`{"MapOfSlices":{"a":["x"],"b":[]}}`,
	`{"Int":1,"Str":2,"I8":3}`, `{"I8":1000,"Int":5}`,
	`{"unknown":{"deep":[1,{"x":null}]},"Int":4}`,
	`{"a":1,"B":"b","C":{"a":2},"D":[1,2,3]}`, `{"a":null,"D":null}`, `{"D":[1,"x"]}`,
	`{"Name":"r","Kids":[{"Name":"k","Kids":[]}],"Next":{"Name":"n"}}`,
	`{"x":1}`, `{"X":2}`, `{"E":1,"a":2}`,
	`[1,2,3]`, `[]`, `[1.5]`, `["a","b","c","d"]`, `[{"a":1},{"a":2}]`, `["x"]`,
	`"str"`, `"\u00e9"`, `""`, `5`, `-12`, `300`, `65536`, `1.5`, `true`, `false`, `null`, `{}`,
	`  {"Int" : 1 , "str" : "s" }  `, "\t[ 1 ,\n2 ]\r\n",
	`{"a":"\ud834\udd1e"}`, `{"\u0061":7}`,
	``, `{`, `{"Int":1`, `{"Int":1}x`, `[1,]`, `{"a" 1}`, `nul`, `"\x"`, "\"\xff\"", `{"Int":1}{"Int":2}`,
	`{"str":"` + strings.Repeat("long ", 50) + `"}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"Any":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range decodeSamples {
		checkDecodeMatches(t, []byte(s))
	}
}

// The fast decoder is the one that runs for plain types (this test fails
// when every value goes to encoding/json).
func TestDecodeFastPathTaken(t *testing.T) {
	var r decInner
	if !fastDecode([]byte(`{"a":1,"B":"x","C":{"D":[1]}}`), &r) {
		t.Fatal("a plain struct went to encoding/json")
	}
	var m map[string]any
	if !fastDecode([]byte(`{"a":[1,"x",null,{}]}`), &m) {
		t.Fatal("a map of any went to encoding/json")
	}
	var tm time.Time
	if fastDecode([]byte(`"2024-01-02T03:04:05Z"`), &tm) {
		t.Fatal("time.Time was not left to encoding/json")
	}
}

func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range decodeSamples {
		if len(s) < 1000 {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecodeMatches(t, []byte(s))
	})
}
