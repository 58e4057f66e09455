package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("message", "hello")
	f.Add("a\"b", "\u2028\f\x00<>&")
	f.Fuzz(func(t *testing.T, event, s string) {
		if event == "" {
			return // an envelope needs a name
		}
		frame, err := AppendEnvelope(nil, event, s, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		frame = append(frame, '\f')
		if bytes.IndexByte(frame[:len(frame)-1], '\f') >= 0 {
			t.Fatalf("delimiter inside frame %q", frame)
		}
		typ, data, perr := ParseEnvelope(frame[:len(frame)-1])
		if perr != nil {
			t.Fatalf("own frame refused: %v: %q", perr, frame)
		}
		var got string
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if want := replaceInvalid(s); got != want {
			t.Fatalf("data %q, want %q", got, want)
		}
		if want := replaceInvalid(event); string(typ) != want && !bytes.Contains([]byte(want), []byte{'\\'}) {
			var ev string
			_ = json.Unmarshal([]byte(`"`+string(typ)+`"`), &ev)
			if ev != want {
				t.Fatalf("type %q, want %q", typ, want)
			}
		}
	})
}

// replaceInvalid replaces each byte of an invalid UTF-8 sequence with
// U+FFFD, as the encoder (and encoding/json) does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzAppendRawMatchesCompact: pre-encoded data is written as json.Compact
// writes it, and refused where encoding/json finds it invalid.
func FuzzAppendRawMatchesCompact(f *testing.F) {
	for _, s := range []string{`{"a": 1}`, "[ 1 ,\n\t2 ]", `"a b"`, ` "x" `, `{"s":"with space","n":[1, 2]}`,
		`{"seq":123456,"payload":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, `{"k" : "\"\\ "}`, `1 2`, `{`, "\"\xff\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		got, err := AppendRaw([]byte("p"), raw, false)
		var want bytes.Buffer
		jerr := json.Compact(&want, raw)
		if len(raw) == 0 {
			return // omitted data: {}
		}
		if jerr != nil || !utf8.Valid(raw) {
			if err == nil {
				t.Fatalf("%q accepted, json.Compact: %v", raw, jerr)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q refused: %v", raw, err)
		}
		if string(got) != "p"+want.String() {
			t.Fatalf("%q written %q, want %q", raw, got[1:], want.Bytes())
		}
	})
}
