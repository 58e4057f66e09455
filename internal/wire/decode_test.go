package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseEnvelope(t *testing.T) {
	cases := []struct {
		frame string
		typ   string
		data  string // "<nil>" for absent
		code  string
	}{
		{`{"type":"message","data":"hello"}`, "message", `"hello"`, ""},
		{` {"type":"a","data":1} ` + "\n", "a", `1`, ""},
		{`{"data":{"x":[1,2]},"type":"a","extra":null}`, "a", `{"x":[1,2]}`, ""},
		{`{"type":"a"}`, "a", "<nil>", ""},
		{`{"type":"b","type":"a","data":1,"data":2}`, "a", `2`, ""},
		{`{"typ\u0065":"a","data":1}`, "a", `1`, ""},
		{`{"type":"\u00e9v","data":1}`, "év", `1`, ""},
		{`{"type":"a","data":"é☃"}`, "a", `"é☃"`, ""},
		{`{"type":"toString"}`, "toString", "<nil>", ""}, // the name rules apply later
		{`not json`, "", "", CodeInvalidJSON},
		{``, "", "", CodeInvalidJSON},
		{`   `, "", "", CodeInvalidJSON},
		{`5`, "", "", CodeInvalidMessage},
		{`"str"`, "", "", CodeInvalidMessage},
		{`[1]`, "", "", CodeInvalidMessage},
		{`null`, "", "", CodeInvalidMessage},
		{`{"data":1}`, "", "", CodeInvalidEvent},
		{`{"type":5}`, "", "", CodeInvalidEvent},
		{`{"type":null}`, "", "", CodeInvalidEvent},
		{`{"type":""}`, "", "", CodeInvalidEvent},
		{`{"type":"a","data":1} x`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":01}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":"\x"}`, "", "", CodeInvalidJSON},
		{"{\"type\":\"a\",\"data\":\"\x01\"}", "", "", CodeInvalidJSON},
		{"{\"type\":\"a\",\"data\":\"\xff\xfe\"}", "", "", CodeInvalidJSON},
		{`{"type":"a",}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":[1,]}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":tru}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":-}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":1.}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":1e}`, "", "", CodeInvalidJSON},
		{`{"type":"a","data":{"k" 1}}`, "", "", CodeInvalidJSON},
		{`{"type":"a"`, "", "", CodeInvalidJSON},
		{strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", "", CodeInvalidJSON},
		{`{"type":"a","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "", "", CodeInvalidJSON},
	}
	for _, c := range cases {
		typ, data, perr := ParseEnvelope([]byte(c.frame))
		name := c.frame
		if len(name) > 60 {
			name = name[:60]
		}
		if c.code != "" {
			if perr == nil || perr.Code != c.code {
				t.Errorf("%q: got %v, want %s", name, perr, c.code)
			}
			continue
		}
		if perr != nil {
			t.Errorf("%q: %v", name, perr)
			continue
		}
		gotData := "<nil>"
		if data != nil {
			gotData = string(data)
		}
		if string(typ) != c.typ || gotData != c.data {
			t.Errorf("%q: got type %q data %s, want %q %s", name, typ, gotData, c.typ, c.data)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","data":"hello"}`, `{"type":"a"}`, `5`, `null`, `[1]`, `{"data":1}`,
		`{"type":5}`, `{"type":"toString"}`, `{"typ\u0065":"x","data":{"a":[1,2,{"b":null}]}}`,
		"{\"type\":\"a\",\"data\":\"\xff\"}", `{"type":"a","data":1e-7}`, ``, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, data, perr := ParseEnvelope(b)
		valid := json.Valid(b) && utf8.Valid(b) // invalid UTF-8 is refused on purpose
		if perr == nil {
			if !valid {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			var v struct {
				Type *string         `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(b, &v); err != nil || v.Type == nil || *v.Type != string(typ) {
				t.Fatalf("type %q disagrees with encoding/json on %q (%v)", typ, b, err)
			}
			if data != nil && !json.Valid(data) {
				t.Fatalf("data %q not valid JSON", data)
			}
			return
		}
		if perr.Code == CodeInvalidJSON && valid && bytes.Count(b, []byte("[")) < MaxDepth && bytes.Count(b, []byte("{")) < MaxDepth {
			t.Fatalf("refused valid JSON %q: %v", b, perr)
		}
	})
}

// plainRun, eight bytes at a time, stops where a byte-by-byte scan does: at
// every position of every placement of each kind of byte that is not plain.
func TestPlainRunMatchesAByteScan(t *testing.T) {
	byteScan := func(b []byte, i int) int {
		for i < len(b) && plain[b[i]] {
			i++
		}
		return i
	}
	stops := []byte{0x00, 0x01, 0x0c, 0x1f, '"', '\\', 0x7f + 1, 0xc3, 0xe2, 0xff}
	goes := []byte{' ', '!', '#', '[', ']', '~', 0x7f, 'a', '0', '/'}
	for size := 0; size <= 20; size++ {
		for _, fill := range goes {
			b := bytes.Repeat([]byte{fill}, size)
			for pos := 0; pos <= size; pos++ {
				for _, c := range stops {
					if pos < size {
						b[pos] = c
					}
					for from := 0; from <= size; from++ {
						if got, want := plainRun(b, from), byteScan(b, from); got != want {
							t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
						}
						if got, want := plainRun(string(b), from), byteScan(b, from); got != want {
							t.Fatalf("plainRun(string %q, %d) = %d, want %d", b, from, got, want)
						}
					}
					if pos < size {
						b[pos] = fill
					}
				}
			}
		}
	}
}
