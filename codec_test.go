package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func fastRules(t testing.TB) *rules {
	t.Helper()
	c := DefaultConfig()
	r, err := newRules(&c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEncodeFrameMatchesNodeIPC14Bytes(t *testing.T) {
	// Expected bytes are what JSON.stringify writes, plus the delimiter.
	cases := []struct {
		name  string
		event string
		data  any
		want  string
	}{
		{"string payload is 34 bytes", "message", "hello", `{"type":"message","data":"hello"}` + "\f"},
		{"object payload", "app.message", map[string]any{"id": "hello", "message": "hi"}, `{"type":"app.message","data":{"id":"hello","message":"hi"}}` + "\f"},
		{"omitted data is {}", "a", nil, `{"type":"a","data":{}}` + "\f"},
		{"zero kept", "a", 0, `{"type":"a","data":0}` + "\f"},
		{"false kept", "a", false, `{"type":"a","data":false}` + "\f"},
		{"null kept in v14 mode", "a", json.RawMessage("null"), `{"type":"a","data":null}` + "\f"},
		{"empty string kept in v14 mode", "a", "", `{"type":"a","data":""}` + "\f"},
		{"NaN is null", "a", math.NaN(), `{"type":"a","data":null}` + "\f"},
		{"-0 is 0", "a", math.Copysign(0, -1), `{"type":"a","data":0}` + "\f"},
		{"a float32 in its own digits", "a", float32(0.1), `{"type":"a","data":0.1}` + "\f"},
		{"form feed escaped", "a", "a\fb", `{"type":"a","data":"a\fb"}` + "\f"},
		{"control characters", "a", "\b\t\n\r\x01\x1f\x7f", `{"type":"a","data":"\b\t\n\r\u0001\u001f` + "\x7f" + `"}` + "\f"},
		{"quotes and backslash", "a", `"\`, `{"type":"a","data":"\"\\"}` + "\f"},
		{"non-ASCII raw", "a", "é☃😀", `{"type":"a","data":"é☃😀"}` + "\f"},
		{"U+2028 and U+2029 raw", "a", "\u2028\u2029", "{\"type\":\"a\",\"data\":\"\u2028\u2029\"}\f"},
		{"U+2028 raw inside objects", "a", map[string]string{"k": "\u2028"}, "{\"type\":\"a\",\"data\":{\"k\":\"\u2028\"}}\f"},
		{"html characters not escaped", "a", "<>&", `{"type":"a","data":"<>&"}` + "\f"},
		{"html characters not escaped in objects", "a", []any{"<>&", 1.5}, `{"type":"a","data":["<>&",1.5]}` + "\f"},
		{"numbers as JavaScript writes them", "a", []float64{1e21, 1e-7, 0.1, 100, 123456789012345678}, `{"type":"a","data":[1e+21,1e-7,0.1,100,123456789012345680]}` + "\f"},
		{"top-level float exponent", "a", 1e-7, `{"type":"a","data":1e-7}` + "\f"},
		{"raw message written as given", "a", json.RawMessage(`{"z":1,"a":[true,null]}`), `{"type":"a","data":{"z":1,"a":[true,null]}}` + "\f"},
		{"raw message compacted", "a", json.RawMessage("{ \"z\" :\n 1 }"), `{"type":"a","data":{"z":1}}` + "\f"},
		{"escaped backslash before u2028 text kept", "a", map[string]string{"k": `\u2028`}, `{"type":"a","data":{"k":"\\u2028"}}` + "\f"},
		{"event name escaped", "a\"b", 1, `{"type":"a\"b","data":1}` + "\f"},
		{"invalid UTF-8 becomes U+FFFD", "a", "x\xffy", "{\"type\":\"a\",\"data\":\"x\ufffdy\"}\f"},
	}
	r := fastRules(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.encodeFrame(nil, c.event, c.data)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestEncodeBenchmarkFrameIs101Bytes(t *testing.T) {
	got, err := EncodeFrame("benchmark.frame", strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 101 {
		t.Fatalf("frame is %d bytes, want 101", len(got))
	}
}

func TestEncodeLegacyNormalisesEmptyValues(t *testing.T) {
	c := LegacyConfig()
	r, err := newRules(&c)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{nil, "", json.RawMessage("null"), math.NaN(), json.RawMessage(`""`)} {
		got, err := r.encodeFrame(nil, "a", v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != `{"type":"a","data":{}}`+"\f" {
			t.Errorf("%#v: got %q", v, got)
		}
	}
	got, _ := r.encodeFrame(nil, "a", 0)
	if string(got) != `{"type":"a","data":0}`+"\f" {
		t.Errorf("0 in legacy mode: got %q", got)
	}
}

func TestEncodeRefusesWhatWouldNotArrive(t *testing.T) {
	r := fastRules(t)
	cases := []struct {
		name  string
		event string
		data  any
		code  Code
	}{
		{"empty event", "", 1, CodeInvalidEvent},
		{"reserved event", "error", 1, CodeReservedEvent},
		{"prototype name", "__proto__", 1, CodeInvalidEvent},
		{"invalid raw JSON", "a", json.RawMessage(`{"a":`), ""},
		{"unencodable value", "a", func() {}, ""},
		{"NaN inside a value", "a", []float64{math.NaN()}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.encodeFrame(nil, c.event, c.data)
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ProtocolError
			if c.code != "" && (!errors.As(err, &pe) || pe.Code != c.code) {
				t.Fatalf("got %v, want code %s", err, c.code)
			}
		})
	}
}

func TestEncodeRefusesPrintableDelimiterInsideFrame(t *testing.T) {
	c := DefaultConfig()
	c.Delimiter = "|"
	r, err := newRules(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.encodeFrame(nil, "a", "x|y"); err == nil {
		t.Fatal("a frame containing its own delimiter was accepted")
	}
	if got, err := r.encodeFrame(nil, "a", "xy"); err != nil || string(got) != `{"type":"a","data":"xy"}|` {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestEmptyDelimiterRefused(t *testing.T) {
	c := DefaultConfig()
	c.Delimiter = ""
	if _, err := newRules(&c); err == nil {
		t.Fatal("empty delimiter accepted")
	}
}

func TestParseEnvelope(t *testing.T) {
	cases := []struct {
		frame string
		typ   string
		data  string // "<nil>" for absent
		code  Code
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
		typ, data, perr := parseEnvelope([]byte(c.frame))
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

func TestNameRulesOfTheFastProfile(t *testing.T) {
	r := fastRules(t)
	for _, n := range []string{"error", "connect", "close", "socket.disconnected", "data", "start", "disconnect", "destroy"} {
		if perr := r.checkName([]byte(n), true); perr == nil || perr.Code != CodeReservedEvent {
			t.Errorf("%s: got %v, want %s", n, perr, CodeReservedEvent)
		}
	}
	for _, n := range []string{"toString", "constructor", "__proto__", "hasOwnProperty"} {
		if perr := r.checkName([]byte(n), true); perr == nil || perr.Code != CodeInvalidEvent {
			t.Errorf("%s: got %v, want %s", n, perr, CodeInvalidEvent)
		}
	}
	if perr := r.checkName([]byte(strings.Repeat("x", 5000)), true); perr != nil {
		t.Errorf("fast profile limits name length: %v", perr)
	}
	r.allowReserved = true
	if perr := r.checkName([]byte("error"), true); perr != nil {
		t.Errorf("AllowReservedEvents: %v", perr)
	}
}

func TestSplitterDispatchesEveryCompleteFrameAtOnce(t *testing.T) {
	for _, delim := range []string{"\f", "\r\n", "<END>"} {
		sp := newSplitter([]byte(delim), 0)
		in := "A" + delim + "BB" + delim + "CCC"
		n := copy(sp.space(), in)
		sp.advance(n)
		var got []string
		for {
			f, ok, perr := sp.frame()
			if perr != nil {
				t.Fatal(perr)
			}
			if !ok {
				break
			}
			got = append(got, string(f))
		}
		if strings.Join(got, ",") != "A,BB" {
			t.Fatalf("delim %q: got %q", delim, got)
		}
		// The rest arrives, with the delimiter split across reads.
		rest := "C" + delim[:len(delim)/2]
		n = copy(sp.space(), rest)
		sp.advance(n)
		if _, ok, _ := sp.frame(); ok {
			t.Fatalf("delim %q: frame before its delimiter completed", delim)
		}
		n = copy(sp.space(), delim[len(delim)/2:])
		sp.advance(n)
		f, ok, _ := sp.frame()
		if !ok || string(f) != "CCCC" {
			t.Fatalf("delim %q: got %q %v", delim, f, ok)
		}
	}
}

func TestSplitterGrowsForLargeFramesAndEnforcesTheLimit(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*minReadBuffer+17)
	sp := newSplitter([]byte("\f"), 0)
	feed := append(append([]byte{}, big...), '\f')
	var f []byte
	var ok bool
	var perr *ProtocolError
	for off := 0; off < len(feed); {
		n := copy(sp.space(), feed[off:min(off+1000, len(feed))])
		sp.advance(n)
		off += n
		if f, ok, perr = sp.frame(); ok || perr != nil {
			break
		}
	}
	if perr != nil || !ok || !bytes.Equal(f, big) || !sp.owned() {
		t.Fatalf("large frame: ok=%v err=%v len=%d owned=%v", ok, perr, len(f), sp.owned())
	}

	sp = newSplitter([]byte("\f"), 100)
	n := copy(sp.space(), bytes.Repeat([]byte("y"), 101))
	sp.advance(n)
	if _, _, perr := sp.frame(); perr == nil || perr.Code != CodeFrameTooLarge {
		t.Fatalf("unfinished frame over the limit: %v", perr)
	}
	sp = newSplitter([]byte("\f"), 100)
	n = copy(sp.space(), append(bytes.Repeat([]byte("y"), 100), '\f'))
	sp.advance(n)
	if f, ok, perr := sp.frame(); perr != nil || !ok || len(f) != 100 {
		t.Fatalf("frame of exactly the limit: %v %v", ok, perr)
	}
}

// Frames longer than the read buffer, at the real sizes: frames over several
// blocks, delimiters cut by reads at every offset, and the limit reached
// exactly or passed by one byte. What is held never passes the limit, and
// the buffer never grows.
func TestSplitterHoldsLongFramesInBlocks(t *testing.T) {
	const limit = 3*blockSize + 100
	for _, delim := range []string{"\f", "\r\n", "<END>"} {
		for _, size := range []int{minReadBuffer - 1, minReadBuffer + 1, 2*blockSize - 1, limit - len(delim), limit} {
			// Reads of 1000 and 4093 bytes are taken whole: a first frame
			// of the right length ends the j-th read inside the
			// delimiter of the long frame, j bytes before it ends.
			type run struct{ read, j int }
			runs := []run{{minReadBuffer, 0}, {blockSize + 3, 0}}
			for j := 0; j <= len(delim); j++ {
				runs = append(runs, run{1000, j}, run{4093, j})
			}
			for _, r := range runs {
				read := r.read
				frame := bytes.Repeat([]byte{'a'}, size)
				frame[size/2] = 'b'
				next := "{}"
				first := ((read-r.j-len(delim)-size)%read + read) % read
				in := bytes.Repeat([]byte{'c'}, first)
				in = append(append(in, delim...), frame...)
				in = append(append(in, delim...), next+delim...)
				// As node-ipc 14 counts it, the unfinished frame
				// includes the part of its delimiter received.
				cut := r.j > 0 && r.j < len(delim) && size+len(delim)-r.j > limit
				sp := newSplitter([]byte(delim), limit)
				var got []string
				var perr *ProtocolError
				for off := 0; off < len(in) && perr == nil; {
					n := copy(sp.space(), in[off:min(off+read, len(in))])
					sp.advance(n)
					off += n
					for perr == nil {
						var f []byte
						var ok bool
						if f, ok, perr = sp.frame(); !ok {
							break
						}
						got = append(got, string(f))
					}
					if sp.long.size > limit || len(sp.buf) != minReadBuffer {
						t.Fatalf("%d bytes of blocks, a buffer of %d", sp.long.size, len(sp.buf))
					}
				}
				if cut {
					if perr == nil || perr.Code != CodeFrameTooLarge || len(got) != 1 {
						t.Fatalf("delim %q, frame of %d, cut %d bytes before the end of its delimiter: %d frames, %v", delim, size, r.j, len(got), perr)
					}
					continue
				}
				if perr != nil || len(got) != 3 || got[1] != string(frame) || got[2] != next || sp.buffered() != 0 || sp.long.size != 0 {
					t.Fatalf("delim %q, frame of %d, reads of %d (%d): %d frames, %d bytes held, %v", delim, size, read, r.j, len(got), sp.buffered(), perr)
				}
			}
		}
		// One byte more is refused, complete or not.
		for _, complete := range []bool{true, false} {
			sp := newSplitter([]byte(delim), limit)
			in := bytes.Repeat([]byte{'a'}, limit+1)
			if complete {
				in = append(in, delim...)
			}
			var perr *ProtocolError
			for off := 0; off < len(in) && perr == nil; {
				n := copy(sp.space(), in[off:min(off+blockSize, len(in))])
				sp.advance(n)
				off += n
				_, _, perr = sp.frame()
			}
			if perr == nil || perr.Code != CodeFrameTooLarge || sp.long.size > limit {
				t.Fatalf("delim %q, complete %v: %v, %d bytes of blocks", delim, complete, perr, sp.long.size)
			}
		}
	}
}

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
		got, err := appendRawValue(nil, c.event, c.data, c.enc)
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

func TestParseFrameAndTheSplitModel(t *testing.T) {
	frames, rest, err := splitFrames([]byte("{\"type\":\"a\",\"data\":1}\f{\"type\":\"b\"}\f{\"ty"), "\f")
	if err != nil || len(frames) != 2 || string(rest) != `{"ty` {
		t.Fatalf("got %q %q %v", frames, rest, err)
	}
	ev, data, err := ParseFrame(frames[0])
	if err != nil || ev != "a" || string(data) != "1" {
		t.Fatalf("got %q %s %v", ev, data, err)
	}
	if _, _, err := ParseFrame([]byte("5")); err == nil {
		t.Fatal("ParseFrame accepted a non-object")
	}
	if _, _, err := splitFrames(nil, ""); err == nil {
		t.Fatal("empty delimiter accepted")
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
		typ, data, perr := parseEnvelope(b)
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
		if perr.Code == CodeInvalidJSON && valid && bytes.Count(b, []byte("[")) < maxJSONDepth && bytes.Count(b, []byte("{")) < maxJSONDepth {
			t.Fatalf("refused valid JSON %q: %v", b, perr)
		}
	})
}

// FuzzSplitter compares the splitter with a model that joins every read to
// what is held and cuts it at each delimiter. shape picks miniature
// configurations, run beside the real one: read buffers of a few bytes,
// blocks of a few bytes and a small limit, so that small inputs take the
// long-frame path (frames over a block, delimiters across reads and what
// went to blocks, the limit reached exactly).
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("{\"type\":\"a\",\"data\":1}\f{\"type\":\"b\"}\f"), []byte("\f"), uint8(7), uint16(0))
	f.Add([]byte("a\r\nb\r\n\r\nc"), []byte("\r\n"), uint8(1), uint16(3<<6|5))
	f.Add([]byte(strings.Repeat("x", 200)+"<END>"+strings.Repeat("y", 200)+"<E"), []byte("<END>"), uint8(16), uint16(2<<6))
	f.Add([]byte(strings.Repeat("z", 96)+"\f"+strings.Repeat("z", 97)+"\f"), []byte("\f"), uint8(40), uint16(12<<11|7<<6|9))
	f.Fuzz(func(t *testing.T, in, delim []byte, chunk uint8, shape uint16) {
		if len(delim) == 0 || len(delim) > 8 {
			return
		}
		// Byte 0 stands for the delimiter, 1 for all of it but its last
		// byte, 2 for a run of 50 bytes: inputs the fuzzer makes then hold
		// delimiters, near misses and long frames.
		var expanded []byte
		for _, b := range in {
			switch b {
			case 0:
				expanded = append(expanded, delim...)
			case 1:
				expanded = append(expanded, delim[:len(delim)-1]...)
			case 2:
				expanded = append(expanded, strings.Repeat("x", 50)...)
			default:
				expanded = append(expanded, b)
			}
		}
		in = expanded
		step := int(chunk%64) + 1
		checkSplitter(t, newSplitter(delim, 0), in, step)
		for k := range 16 {
			sp := newSplitter(delim, int(shape>>11)*8) // 0 (none) to 248
			sp.buf = make([]byte, 8*len(delim)+(int(shape&0x3f)+k)%64)
			sp.long.max = 1 + (int(shape>>6&0x1f)+k)%32
			checkSplitter(t, sp, in, (step-1+7*k)%64+1)
		}
	})
}

// checkSplitter feeds in to sp step bytes at a time, as a connection's
// reader does, and compares what it returns with the model.
func checkSplitter(t *testing.T, sp *splitter, in []byte, step int) {
	t.Helper()
	size := len(sp.buf)
	var held []byte // the model: bytes after the last delimiter
	var gotErr, wantErr bool
	for off := 0; off < len(in) && !gotErr && !wantErr; {
		n := copy(sp.space(), in[off:min(off+step, len(in))])
		if n == 0 {
			t.Fatalf("no room to read, %d bytes held", sp.buffered())
		}
		sp.advance(n)
		held = append(held, in[off:off+n]...)
		off += n
		for !gotErr && !wantErr {
			f, ok, perr := sp.frame()
			i := bytes.Index(held, sp.delim)
			switch {
			case i >= 0 && sp.limit > 0 && i > sp.limit, i < 0 && sp.limit > 0 && len(held) > sp.limit:
				wantErr = true
			case i >= 0:
				if !ok || !bytes.Equal(f, held[:i]) {
					t.Fatalf("frame %q %v %v, want %q", f, ok, perr, held[:i])
				}
				if sp.owned() != (len(f) > 0 && !overlaps(f, sp.buf)) {
					t.Fatalf("frame of %d bytes: owned %v", len(f), sp.owned())
				}
				held = held[i+len(sp.delim):]
				continue
			}
			gotErr = perr != nil
			if perr != nil && perr.Code != CodeFrameTooLarge || ok {
				t.Fatalf("frame %q %v %v, want none", f, ok, perr)
			}
			break
		}
		if gotErr != wantErr {
			t.Fatalf("error %v, want %v (%d bytes held, limit %d)", gotErr, wantErr, len(held), sp.limit)
		}
		if !gotErr && (sp.buffered() != len(held) || len(sp.buf) != size || sp.limit > 0 && sp.long.size > sp.limit) {
			t.Fatalf("%d bytes held in %d of blocks and a buffer of %d; want %d, a buffer of %d, limit %d", sp.buffered(), sp.long.size, len(sp.buf), len(held), size, sp.limit)
		}
	}
}

func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("message", "hello")
	f.Add("a\"b", "\u2028\f\x00<>&")
	f.Fuzz(func(t *testing.T, event, s string) {
		r := fastRules(t)
		frame, err := r.encodeFrame(nil, event, s)
		if err != nil {
			return
		}
		if bytes.IndexByte(frame[:len(frame)-1], '\f') >= 0 {
			t.Fatalf("delimiter inside frame %q", frame)
		}
		typ, data, perr := parseEnvelope(frame[:len(frame)-1])
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

func BenchmarkEncodeFrame64(b *testing.B) {
	r := fastRules(b)
	payload := strings.Repeat("a", 64)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(101)
	for b.Loop() {
		buf, _ = r.encodeFrame(buf[:0], "benchmark.frame", payload)
	}
}

func BenchmarkEncodeFrameObject(b *testing.B) {
	r := fastRules(b)
	payload := map[string]any{"id": 42, "name": "hello", "tags": []string{"a", "b"}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = r.encodeFrame(buf[:0], "app.message", payload)
	}
}

// BenchmarkDecodeFrames measures the reader's path for a chunk of 64
// benchmark frames: split, parse and check, without allocating.
func BenchmarkDecodeFrames(b *testing.B) {
	r := fastRules(b)
	frame, _ := r.encodeFrame(nil, "benchmark.frame", strings.Repeat("a", 64))
	chunk := bytes.Repeat(frame, 64)
	sp := newSplitter(r.delim, r.maxMessageSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		n := copy(sp.space(), chunk)
		sp.advance(n)
		for {
			f, ok, perr := sp.frame()
			if perr != nil {
				b.Fatal(perr)
			}
			if !ok {
				break
			}
			typ, _, perr := parseEnvelope(f)
			if perr == nil {
				perr = r.checkName(typ, true)
			}
			if perr != nil {
				b.Fatal(perr)
			}
		}
	}
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

// splitFrames is the splitter's model: it cuts complete frames off the
// front of buf at each delimiter and returns them (without delimiters) and
// the unfinished rest. An empty delimiter is refused.
func splitFrames(buf []byte, delimiter string) (frames [][]byte, rest []byte, err error) {
	if delimiter == "" {
		return nil, buf, errors.New("empty delimiter")
	}
	d := []byte(delimiter)
	for {
		i := bytes.Index(buf, d)
		if i < 0 {
			return frames, buf, nil
		}
		frames = append(frames, buf[:i])
		buf = buf[i+len(d):]
	}
}
