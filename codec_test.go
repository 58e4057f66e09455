package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/effeeea0/nodeipc/internal/wire"
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
	sp := wire.NewSplitter(r.delim, r.maxMessageSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		n := copy(sp.Space(), chunk)
		sp.Advance(n)
		for {
			f, ok, werr := sp.Frame()
			if werr != nil {
				b.Fatal(werr)
			}
			if !ok {
				break
			}
			if _, _, perr, _ := r.decode(f); perr != nil {
				b.Fatal(perr)
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
