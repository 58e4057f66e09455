package wire

import (
	"bytes"
	"testing"
)

func TestRawValues(t *testing.T) {
	cases := []struct {
		name  string
		event string
		data  any
		enc   string
		want  []byte
		bad   bool
	}{
		{"utf8 string", "hello", nil, "utf8", []byte("hello"), false},
		{"hex string", "0a141e", nil, "hex", []byte{0x0a, 0x14, 0x1e}, false},
		{"bad hex", "hello", nil, "hex", nil, true},
		{"odd hex", "abc", nil, "hex", nil, true},
		{"byte values", "", []int{10, 20, 30}, "utf8", []byte{10, 20, 30}, false},
		{"byte value out of range", "", []int{256}, "utf8", nil, true},
		{"bytes unchanged", "", []byte{0xff, 0x00, 0xfe, 0x0c}, "hex", []byte{0xff, 0x00, 0xfe, 0x0c}, false},
		{"base64", "AQID", nil, "base64", []byte{1, 2, 3}, false},
		{"latin1", "\u00ff", nil, "latin1", []byte{0xff}, false},
		{"utf16le", "A\u00e9", nil, "utf16le", []byte{0x41, 0, 0xe9, 0}, false},
		{"unknown encoding", "x", nil, "klingon", nil, true},
		{"empty", "", []byte{}, "utf8", nil, true},
		{"map is not bytes", "", map[string]int{}, "utf8", nil, true},
	}
	for _, c := range cases {
		got, err := AppendRawValue(nil, c.event, c.data, c.enc)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error, got %x", c.name, got)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %x, %v; want %x", c.name, got, err, c.want)
		}
	}
}
