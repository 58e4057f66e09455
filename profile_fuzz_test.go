package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// The fuzz targets of this file drive the decoders through the code a
// connection runs: a stream's read loop (conn.readLoop, fed through
// net.Pipe in chunks whose sizes the fuzzer picks) and the UDP receive path.
// Each compares what was delivered, and how the input ended, with a model
// written from node-ipc 14's rules (reference §8) on top of encoding/json,
// and checks the invariants: no panic, every delivered event obeys the
// profile, every error is a *ProtocolError with a known code.

// Limits of the fuzzed profiles: small, so that inputs reach them.
const (
	fuzzMaxRead    = 300 // MaxReadBuffer (fast's only limit)
	fuzzMaxMessage = 120 // MaxMessageSize (guarded, assured)
	fuzzMaxName    = 8   // MaxEventNameLength (guarded, assured)
)

var fuzzAllowed = []string{"a", "ping", "pong", "é", "😀😀"}

// fuzzRules builds the rules of a profile as a Config would.
func fuzzRules(t testing.TB, profile string, mutate func(*Config)) *rules {
	t.Helper()
	c := DefaultConfig()
	c.Parser = profile
	c.MaxReadBuffer = fuzzMaxRead
	c.MaxMessageSize = fuzzMaxMessage
	c.MaxEventNameLength = fuzzMaxName
	c.MessageTimeout = time.Minute // the timer runs, and never fires
	if profile == ParserAssured {
		c.AllowedEvents = fuzzAllowed
	}
	if mutate != nil {
		mutate(&c)
	}
	r, err := newRules(&c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// knownCodes are the codes a *ProtocolError may carry.
var knownCodes = map[Code]bool{
	CodeInvalidJSON: true, CodeInvalidMessage: true, CodeInvalidEvent: true, CodeEventTooLarge: true,
	CodeReservedEvent: true, CodeEventNotAllowed: true, CodeFrameTooLarge: true, CodeBackpressure: true,
	CodeMessageTimeout: true, CodeUnlinkNotSocket: true, CodeSocketRoot: true, CodeTLSConfiguration: true,
	CodeAssuredTLS: true, CodeAssuredTransport: true, CodeIncompleteFrame: true, CodeDatagramTooLarge: true,
	CodePeerNotPermitted: true, CodeInvalidRawPayload: true,
}

type fuzzEvent struct {
	typ     string
	data    []byte // nil: absent
	refused Code   // the code of a frame refused alone (fast profile), in order with the events
}

func (e fuzzEvent) String() string {
	if e.refused != "" {
		return "refused " + string(e.refused)
	}
	if e.data == nil {
		return fmt.Sprintf("%q <no data>", e.typ)
	}
	return fmt.Sprintf("%q %q", e.typ, e.data)
}

// chunks cuts in into pieces of 1 to 256 bytes, sizes taken in turn from
// cuts (one piece when cuts is empty); the 64th piece takes what is left.
func chunks(in, cuts []byte) [][]byte {
	var out [][]byte
	for k := 0; len(in) > 0; k++ {
		n := len(in)
		if len(cuts) > 0 && k < 63 {
			n = min(n, int(cuts[k%len(cuts)])+1)
		}
		out = append(out, in[:n])
		in = in[n:]
	}
	return out
}

// readThrough runs a connection's read loop over one end of net.Pipe while
// the other end writes the chunks, then closes. It returns the events
// delivered and the read loop's result.
func readThrough(r *rules, pieces [][]byte) ([]fuzzEvent, error) {
	a, b := net.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		defer b.Close()
		for _, p := range pieces {
			if _, err := b.Write(p); err != nil {
				return
			}
		}
	}()
	c := newConn(a, r, 0)
	var events []fuzzEvent
	err := c.readLoop(func(typ, data []byte, _ bool) {
		e := fuzzEvent{typ: string(typ)}
		if data != nil {
			e.data = append([]byte{}, data...)
		}
		events = append(events, e)
	}, func(perr *ProtocolError) { events = append(events, fuzzEvent{refused: perr.Code}) })
	a.Close() // a violation leaves the writer blocked: release it
	<-written
	return events, err
}

// codeOf returns the code of a *ProtocolError, "" for nil, and fails on any
// other error or an unknown code.
func codeOf(t *testing.T, err error) Code {
	t.Helper()
	if err == nil {
		return ""
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ProtocolError", err, err)
	}
	if !knownCodes[pe.Code] {
		t.Fatalf("unknown code %q", pe.Code)
	}
	return pe.Code
}

// model is node-ipc 14's receive rules for one profile, written apart from
// the decoder: encoding/json decides what is JSON.
type model struct {
	limit         int // largest frame in bytes; 0: none
	maxName       int // in UTF-16 code units; 0: none
	allowReserved bool
	allowed       map[string]bool // nil: every name
	fatalNames    bool            // a refused name ends the connection (guarded); else only its frame is refused
}

func modelOf(r *rules) model {
	m := model{limit: r.maxMessageSize, maxName: r.maxEventName, allowReserved: r.allowReserved, fatalNames: r.guarded}
	if r.allowed != nil {
		m.allowed = map[string]bool{}
		for k := range r.allowed {
			m.allowed[k] = true
		}
	}
	return m
}

// Object.prototype's own names and node-ipc's lifecycle names, as node-ipc
// 14's EventParser.js lists them.
var (
	modelPrototype = strings.Fields("constructor __defineGetter__ __defineSetter__ hasOwnProperty __lookupGetter__ __lookupSetter__ isPrototypeOf propertyIsEnumerable toString valueOf __proto__ toLocaleString")
	modelReserved  = strings.Fields("start connect disconnect destroy close socket.disconnected error data")
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// name applies the event-name rules in node-ipc's order.
func (m model) name(typ string) Code {
	switch {
	case typ == "":
		return CodeInvalidEvent
	case m.maxName > 0 && len(utf16.Encode([]rune(typ))) > m.maxName:
		return CodeEventTooLarge
	case typ == "*": // the wildcard: a peer's "*" would run wildcard handlers twice
		return CodeReservedEvent
	case contains(modelPrototype, typ):
		return CodeInvalidEvent
	case !m.allowReserved && contains(modelReserved, typ):
		return CodeReservedEvent
	case m.allowed != nil && !m.allowed[typ]:
		return CodeEventNotAllowed
	}
	return ""
}

// tooDeep reports frames whose nesting nears the decoder's depth bound,
// where the model does not say which code comes.
func tooDeep(f []byte) bool {
	return bytes.Count(f, []byte("["))+bytes.Count(f, []byte("{")) >= wire.MaxDepth-2
}

// frame decodes one complete frame: the event, or the code that refuses it.
// A name refused alone (not fatal) comes back as an event with that code.
func (m model) frame(f []byte) (fuzzEvent, Code) {
	if m.limit > 0 && len(f) > m.limit {
		return fuzzEvent{}, CodeFrameTooLarge
	}
	if !utf8.Valid(f) || !json.Valid(f) {
		return fuzzEvent{}, CodeInvalidJSON
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(f, &obj) != nil || obj == nil {
		return fuzzEvent{}, CodeInvalidMessage
	}
	var typ string
	if raw, ok := obj["type"]; !ok || json.Unmarshal(raw, &typ) != nil || raw[0] != '"' {
		return fuzzEvent{}, CodeInvalidEvent
	}
	if typ == "" { // a malformed envelope, not a refused name
		return fuzzEvent{}, CodeInvalidEvent
	}
	if code := m.name(typ); code != "" {
		if !m.fatalNames {
			return fuzzEvent{refused: code}, ""
		}
		return fuzzEvent{}, code
	}
	e := fuzzEvent{typ: typ}
	if d, ok := obj["data"]; ok {
		e.data = []byte(d)
	}
	return e, ""
}

// stream decodes a whole stream that then ends: the events delivered, and
// the code it ends with ("" for a clean end).
func (m model) stream(in, delim []byte) (events []fuzzEvent, code Code, exact bool) {
	parts := bytes.Split(in, delim)
	for _, f := range parts[:len(parts)-1] {
		if tooDeep(f) {
			return events, "", false
		}
		e, code := m.frame(f)
		if code != "" {
			return events, code, true
		}
		events = append(events, e)
	}
	switch rest := parts[len(parts)-1]; {
	case m.limit > 0 && len(rest) > m.limit:
		return events, CodeFrameTooLarge, true
	case len(rest) > 0:
		return events, CodeIncompleteFrame, true
	}
	return events, "", true
}

// checkStream compares a read loop's result over the input with the model.
func checkStream(t *testing.T, r *rules, in, cuts []byte) {
	t.Helper()
	got, err := readThrough(r, chunks(in, cuts))
	code := codeOf(t, err)
	m := modelOf(r)
	for _, e := range got {
		if e.refused != "" {
			continue
		}
		if c := m.name(e.typ); c != "" {
			t.Fatalf("delivered %v against the rules (%s)", e, c)
		}
		if e.data != nil && !json.Valid(e.data) {
			t.Fatalf("delivered %v: data is not JSON", e)
		}
	}
	want, wantCode, exact := m.stream(in, r.delim)
	if !exact {
		return
	}
	if code != wantCode || len(got) != len(want) {
		t.Fatalf("got %d events, end %q; the model has %d events, end %q\n got %v\nwant %v", len(got), code, len(want), wantCode, got, want)
	}
	for i := range want {
		if got[i].refused != want[i].refused || got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) || (got[i].data == nil) != (want[i].data == nil) {
			t.Fatalf("event %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// streamSeeds are inputs every stream target starts from: node-ipc's own
// frames, the hostile frames of reference §1.3, and the profiles' edges.
func streamSeeds() []string {
	long := strings.Repeat("x", fuzzMaxMessage)
	return []string{
		"{\"type\":\"message\",\"data\":\"hello\"}\f",
		"{\"type\":\"a\",\"data\":{\"id\":\"hello\",\"message\":\"hi\"}}\f{\"type\":\"ping\"}\f",
		"{\"type\":\"ping\",\"data\":1}\f{\"type\":\"pong\",\"da",
		" {\"data\":[1,2],\"type\":\"a\",\"extra\":null} \n\f",
		"not json\f", "\f", "5\f", "\"str\"\f", "[1]\f", "null\f", "{\"data\":1}\f", "{\"type\":5}\f",
		"{\"type\":\"\"}\f", "{\"type\":\"toString\"}\f", "{\"type\":\"__proto__\"}\f", "{\"type\":\"constructor\"}\f",
		"{\"type\":\"error\",\"data\":\"x\"}\f", "{\"type\":\"close\"}\f", "{\"typ\\u0065\":\"connect\"}\f",
		"{\"type\":\"a\",\"data\":\"\xff\xfe\"}\f", "{\"type\":\"\xc3\"}\f", "{\"type\":\"a\",\"data\":\"\x01\"}\f",
		"{\"type\":\"123456789\"}\f", "{\"type\":\"😀😀😀😀😀\"}\f", "{\"type\":\"😀😀\"}\f", "{\"type\":\"éééééééé\"}\f",
		"{\"type\":\"\\u00e9\",\"data\":0}\f", "{\"type\":\"\\ud800\"}\f", "{\"type\":\"b\",\"type\":\"a\",\"data\":1,\"data\":2}\f",
		"{\"type\":\"a\",\"data\":\"" + long + "\"}\f",
		"{\"type\":\"a\",\"data\":\"" + long[:fuzzMaxMessage-22] + "\"}\f",
		"{\"type\":\"a\",\"data\":\"" + strings.Repeat("y", fuzzMaxRead) + "\"}\f",
		"{\"type\":\"a\",\"data\":" + strings.Repeat("[", 50) + strings.Repeat("]", 50) + "}\f",
		"{\"type\":\"a\",\"data\":1}\fnot json\f{\"type\":\"a\",\"data\":2}\f",
	}
}

func addStreamSeeds(f *testing.F) {
	for i, s := range streamSeeds() {
		f.Add([]byte(s), []byte{byte(i * 7), 3, 0, 200})
		f.Add([]byte(s), []byte(nil))
	}
}

func FuzzFastDecode(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		checkStream(t, fuzzRules(t, ParserFast, nil), in, cuts)
	})
}

func FuzzGuardedDecode(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		checkStream(t, fuzzRules(t, ParserGuarded, nil), in, cuts)
		// AllowReservedEvents delivers lifecycle names, and nothing else
		// changes.
		checkStream(t, fuzzRules(t, ParserGuarded, func(c *Config) { c.AllowReservedEvents = true }), in, cuts)
	})
}

func FuzzAssuredDecode(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		checkStream(t, fuzzRules(t, ParserAssured, nil), in, cuts)
	})
}

// In raw mode every byte is delivered once, in order, and nothing is an
// error.
func FuzzRawDecode(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		got, err := readThrough(fuzzRules(t, ParserRaw, nil), chunks(in, cuts))
		if err != nil {
			t.Fatalf("raw mode: %v", err)
		}
		var all []byte
		for _, e := range got {
			if e.typ != "" || len(e.data) == 0 {
				t.Fatalf("raw delivery %v", e)
			}
			all = append(all, e.data...)
		}
		if !bytes.Equal(all, in) {
			t.Fatalf("delivered %q, sent %q", all, in)
		}
	})
}

// fuzzCodec is a custom codec written the way codecs are: one message per
// line, "name data", with the remainder returned as a slice of what it was
// given (so it aliases the read buffer), and lines that make it misbehave: a
// line starting with '!' panics, '?' returns a *ProtocolError, '#' a plain
// error.
type fuzzCodec struct{}

var errFuzzCodec = errors.New("fuzz codec: refused line")

func (fuzzCodec) Encode(event string, data any) ([]byte, error) {
	b, err := json.Marshal(data)
	return append(append([]byte(event+" "), b...), '\n'), err
}

func (fuzzCodec) Read(rest, chunk []byte, receive func(string, json.RawMessage)) ([]byte, error) {
	buf := chunk
	if len(rest) > 0 {
		buf = append(rest, chunk...)
	}
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return buf, nil
		}
		line := buf[:i]
		buf = buf[i+1:]
		if len(line) > 0 {
			switch line[0] {
			case '!':
				panic("fuzz codec: bug")
			case '?':
				return nil, &ProtocolError{Code: CodeInvalidMessage, Message: "fuzz codec: bad line"}
			case '#':
				return nil, errFuzzCodec
			}
		}
		name, data, _ := bytes.Cut(line, []byte(" "))
		if !json.Valid(data) {
			data = nil
		}
		receive(string(name), data)
	}
}

// Custom codecs: whatever the codec does with the bytes (keeps slices of
// the read buffer, panics, fails), the events delivered obey the name rules
// and match the codec's own reading of the whole stream, its remainder
// stays under MaxReadBuffer, and the only errors are protocol errors, the
// codec's own, or its panic.
func FuzzCodecDecode(f *testing.F) {
	for i, s := range []string{
		"a 1\nb {\"x\":[1,2]}\nc", "ping \"hi\"\n", "error 1\n", "__proto__ {}\n", "a\n!\n", "a 1\n?\n", "#\n",
		"a " + strings.Repeat("7", fuzzMaxRead) + "\n", strings.Repeat("z", fuzzMaxRead+1), "\n\n\n", "a 1\nconstructor 2\n!\n",
	} {
		f.Add([]byte(s), []byte{byte(i * 5), 1, 0})
		f.Add([]byte(s), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		r := fuzzRules(t, ParserFast, func(c *Config) { c.Codec = fuzzCodec{} })
		pieces := chunks(in, cuts)
		got, err := readThrough(r, pieces)
		m := modelOf(r)
		for _, e := range got {
			if e.refused == "" && m.name(e.typ) != "" {
				t.Fatalf("delivered %v against the rules (%s)", e, m.name(e.typ))
			}
		}
		// The codec's reading, chunk by chunk as the connection reads.
		var want []fuzzEvent
		var wantErr Code
		var rest []byte
	model:
		for _, p := range pieces {
			rest = append(rest, p...)
			for {
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					break
				}
				line := rest[:i]
				rest = rest[i+1:]
				if len(line) > 0 && strings.IndexByte("!?#", line[0]) >= 0 {
					wantErr = map[byte]Code{'!': "panic", '?': CodeInvalidMessage, '#': "codec"}[line[0]]
					break model
				}
				name, data, _ := bytes.Cut(line, []byte(" "))
				if c := m.name(string(name)); c != "" {
					// Refused alone: a custom codec is not a guarded profile.
					want = append(want, fuzzEvent{refused: c})
					continue
				}
				e := fuzzEvent{typ: string(name)}
				if json.Valid(data) {
					e.data = append([]byte{}, data...)
				}
				want = append(want, e)
			}
			if len(rest) > fuzzMaxRead {
				wantErr = CodeFrameTooLarge
				break
			}
		}
		if wantErr == "" && len(rest) > 0 {
			wantErr = CodeIncompleteFrame
		}
		var gotErr Code
		var pe *ProtocolError
		switch {
		case err == nil:
		case errors.Is(err, errFuzzCodec):
			gotErr = "codec"
		case errors.As(err, &pe):
			gotErr = codeOf(t, err)
		case strings.Contains(err.Error(), "custom codec panicked"):
			gotErr = "panic"
		default:
			t.Fatalf("error %v (%T)", err, err)
		}
		if len(in) > 32<<10 {
			return // a piece may take several reads: the model's remainder checks differ
		}
		if gotErr != wantErr || len(got) != len(want) {
			t.Fatalf("got %d events, end %q; the codec read %d events, end %q\n got %v\nwant %v", len(got), gotErr, len(want), wantErr, got, want)
		}
		for i := range want {
			if got[i].refused != want[i].refused || got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) {
				t.Fatalf("event %d: got %v, want %v (the remainder was overwritten?)", i, got[i], want[i])
			}
		}
	})
}

// UDP: the datagrams of one peer go through the server's receive path (one
// read buffer reused for every datagram, as the read loop does). Frames
// split across datagrams are joined, a violation resets the peer's buffer
// and drops the rest of that datagram, never more is held than the limit,
// and what is delivered matches the model. mode: 0 fast, 1 guarded, 2
// guarded with AllowReservedEvents, 3 fast in node-ipc 9's legacy mode (a
// datagram must end with the delimiter); plus 4: the two-byte delimiter
// "\r\n", or 8: the five-byte "<END>", which datagram boundaries may cut
// (either stands in for every \f of the input). Assured refuses UDP.
func FuzzUDPDecode(f *testing.F) {
	for i, s := range streamSeeds() {
		f.Add([]byte(s), []byte{byte(i * 11), 0, 5}, uint8(i))
	}
	f.Add([]byte("{\"type\":\"a\",\"data\":1}\r\n{\"type\":\"ping\"}\r\n"), []byte{21, 1}, uint8(4)) // cut between \r and \n
	f.Add([]byte("{\"type\":\"a\",\"data\":\"\r\"}\r\n"), []byte{21, 0}, uint8(5))
	f.Add([]byte("{\"type\":\"a\",\"data\":\"<EN\"}\f{\"type\":\"ping\"}\f"), []byte{3, 4, 5, 6, 2, 0, 1, 7}, uint8(8)) // cut inside <END>
	f.Fuzz(func(t *testing.T, in, cuts []byte, mode uint8) {
		legacy := mode%4 == 3
		cfg := DefaultConfig()
		switch {
		case mode&8 != 0:
			cfg.Delimiter = "<END>"
		case mode&4 != 0:
			cfg.Delimiter = "\r\n"
		}
		if cfg.Delimiter != DefaultDelimiter {
			in = bytes.ReplaceAll(in, []byte(DefaultDelimiter), []byte(cfg.Delimiter))
		}
		cfg.Silent = true
		cfg.Parser = []string{ParserFast, ParserGuarded, ParserGuarded, ParserFast}[mode%4]
		cfg.AllowReservedEvents = mode%4 == 2
		cfg.Legacy = legacy
		cfg.MaxReadBuffer = fuzzMaxRead
		cfg.MaxMessageSize = fuzzMaxMessage
		cfg.MaxEventNameLength = fuzzMaxName
		s := newServer("udp4", "127.0.0.1:0", &cfg, nil)
		if s.initErr != nil {
			t.Fatal(s.initErr)
		}
		var got []fuzzEvent
		var codes []Code
		s.On(WildcardEvent, func(m *Message) {
			e := fuzzEvent{typ: m.Type}
			if m.Data != nil {
				e.data = append([]byte{}, m.Data...)
			}
			got = append(got, e)
		})
		s.On("error", func(m *Message) { codes = append(codes, codeOf(t, m.Err)) })
		u := &udpServer{s: s, max: maxDatagram4, tab: map[netip.AddrPort]*udpPeer{}}
		p := u.peer(netip.MustParseAddrPort("127.0.0.1:9"))
		m := modelOf(s.rules)
		var want []fuzzEvent
		var wantCodes []Code
		var pending []byte
		buf := make([]byte, 512)
		exact := true
		for _, d := range chunks(in, cuts) {
			if len(d) > len(buf) {
				buf = make([]byte, len(d))
			}
			u.receive(p, buf[:copy(buf, d)])
			if p.pending.Cap() > s.rules.maxMessageSize || u.held != p.pending.Cap() || p.pending.Len() > p.pending.Cap() {
				t.Fatalf("%d bytes held for a peer in %d (%d counted), limit %d", p.pending.Len(), p.pending.Cap(), u.held, s.rules.maxMessageSize)
			}
			// The model.
			if legacy && !bytes.HasSuffix(d, s.rules.delim) {
				wantCodes = append(wantCodes, CodeIncompleteFrame)
				continue
			}
			data := append(pending, d...)
			pending = nil
			parts := bytes.Split(data, s.rules.delim)
			failed := false
			for _, f := range parts[:len(parts)-1] {
				if tooDeep(f) {
					exact = false
				}
				e, code := m.frame(f)
				if code != "" {
					wantCodes = append(wantCodes, code)
					failed = true
					break
				}
				if e.refused != "" {
					wantCodes = append(wantCodes, e.refused)
					continue
				}
				want = append(want, e)
			}
			if rest := parts[len(parts)-1]; !failed && len(rest) > 0 {
				if len(rest) > m.limit {
					wantCodes = append(wantCodes, CodeFrameTooLarge)
				} else {
					pending = append([]byte{}, rest...)
				}
			}
		}
		for _, e := range got {
			if c := m.name(e.typ); c != "" {
				t.Fatalf("delivered %v against the rules (%s)", e, c)
			}
		}
		if !exact {
			return
		}
		if fmt.Sprint(codes) != fmt.Sprint(wantCodes) || len(got) != len(want) {
			t.Fatalf("got %d events, errors %v; the model has %d events, errors %v\n got %v\nwant %v", len(got), codes, len(want), wantCodes, got, want)
		}
		for i := range want {
			if got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) {
				t.Fatalf("event %d: got %v, want %v", i, got[i], want[i])
			}
		}
	})
}
