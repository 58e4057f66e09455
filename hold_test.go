package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// udpUnderTest is a UDP server's receive path without a socket: datagrams
// are handed to it as its read loop would.
type udpUnderTest struct {
	u      *udpServer
	events []string // "type data"
	codes  []string
}

func newUDPUnderTest(t *testing.T, mutate func(*Config)) *udpUnderTest {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Silent = true
	mutate(&cfg)
	s := newServer("udp4", "127.0.0.1:0", &cfg, nil)
	if s.initErr != nil {
		t.Fatal(s.initErr)
	}
	x := &udpUnderTest{u: &udpServer{s: s, max: maxDatagram4, tab: map[netip.AddrPort]*udpPeer{}}}
	s.On(WildcardEvent, func(m *Message) { x.events = append(x.events, m.Type+" "+string(m.Data)) })
	s.On("error", func(m *Message) {
		var pe *ProtocolError
		if !errors.As(m.Err, &pe) {
			t.Fatalf("error %v is not a *ProtocolError", m.Err)
		}
		x.codes = append(x.codes, string(pe.Code))
	})
	return x
}

// send hands one datagram from the peer at port to the server.
func (x *udpUnderTest) send(port uint16, dgram string) {
	x.u.receive(x.u.peer(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)), []byte(dgram))
}

// Unfinished UDP frames of all peers together stay within MaxReadBuffer: a
// peer over the total is refused with ERR_IPC_FRAME_TOO_LARGE and its
// buffer reset, frames in one datagram still pass, and what a peer
// completes, or an idle peer forgotten, frees its share.
func TestUDPUnfinishedFramesAreBoundedAcrossPeers(t *testing.T) {
	x := newUDPUnderTest(t, func(c *Config) {
		c.MaxReadBuffer = 4096
		c.UDPPeerIdleTimeout = time.Hour
	})
	head := `{"type":"a","data":"`
	x.send(1, head+strings.Repeat("a", 3000)) // held: 3020
	x.send(2, head+strings.Repeat("b", 2000)) // 5040 would be over 4096
	if want := []string{string(CodeFrameTooLarge)}; strings.Join(x.codes, " ") != strings.Join(want, " ") {
		t.Fatalf("errors %v, want %v", x.codes, want)
	}
	x.send(3, `{"type":"c","data":1}`+"\f") // a whole frame needs no room
	x.send(1, `"}`+"\f")                    // peer 1 completes: its share is free
	x.send(2, head+strings.Repeat("b", 2000))
	x.send(2, `"}`+"\f")
	want := []string{"c 1", `a "` + strings.Repeat("a", 3000) + `"`, `a "` + strings.Repeat("b", 2000) + `"`}
	if strings.Join(x.events, "|") != strings.Join(want, "|") {
		t.Fatalf("events %.80q, want %.80q", x.events, want)
	}
	if x.u.held != 0 {
		t.Fatalf("%d bytes held after every frame completed", x.u.held)
	}

	// A peer forgotten as idle gives its share back.
	x.send(4, head+strings.Repeat("d", 3000))
	x.u.tab[netip.MustParseAddrPort("127.0.0.1:4")].last = time.Now().Add(-2 * time.Hour)
	x.u.swept = time.Time{}
	x.send(5, head+strings.Repeat("e", 3000))
	if x.u.held != len(head)+3000 || len(x.codes) != 1 {
		t.Fatalf("%d bytes held, errors %v: the idle peer's share was not freed", x.u.held, x.codes)
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A frame that arrives in many small pieces is not copied again with every
// piece, on any path that holds an unfinished frame: what is allocated stays
// a small multiple of the frame, where copying the held bytes on every read
// would allocate about pieces/2 times the frame.
func TestLongFrameInSmallPiecesIsNotCopiedPerPiece(t *testing.T) {
	const pieces, size = 800, 1024
	body := strings.Repeat("z", pieces*size)
	bound := uint64(32 * pieces * size) // copying per piece: about 400 times

	t.Run("udp", func(t *testing.T) {
		x := newUDPUnderTest(t, func(c *Config) { c.MaxReadBuffer = 2 * pieces * size })
		n := allocated(func() {
			x.send(1, `{"type":"a","data":"`)
			for i := 0; i < len(body); i += size {
				x.send(1, body[i:i+size])
			}
			x.send(1, `"}`+"\f")
		})
		if len(x.events) != 1 || len(x.codes) != 0 {
			t.Fatalf("%d events, errors %v", len(x.events), x.codes)
		}
		t.Logf("%d bytes allocated for a frame of %d bytes", n, len(body))
		if n > bound {
			t.Fatal("the unfinished frame was copied per piece")
		}
	})
	for _, tc := range []struct {
		name  string
		codec Codec
	}{
		{"framed", nil},
		{"codec keeping slices of the read buffer", fuzzCodec{}},
		{"codec appending", appendingCodec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fuzzRules(t, ParserFast, func(c *Config) {
				c.Codec = tc.codec
				c.MaxReadBuffer = 2 * pieces * size
			})
			in := []byte("a " + `"` + body + `"` + "\n")
			if tc.codec == nil {
				in = []byte(`{"type":"a","data":"` + body + `"}` + "\f")
			}
			var split [][]byte
			for len(in) > 0 {
				k := min(len(in), size)
				split = append(split, in[:k])
				in = in[k:]
			}
			var got []fuzzEvent
			var err error
			n := allocated(func() { got, err = readThrough(r, split) })
			if err != nil || len(got) != 1 || len(got[0].data) != len(body)+2 {
				t.Fatalf("%d events, %v", len(got), err)
			}
			t.Logf("%d bytes allocated for a frame of %d bytes", n, len(body))
			if n > bound {
				t.Fatal("the unfinished frame was copied per piece")
			}
		})
	}
}

// appendingCodec is fuzzCodec's line format, read the other common way:
// the remainder and the chunk are always joined into the remainder.
type appendingCodec struct{ fuzzCodec }

func (appendingCodec) Read(rest, chunk []byte, receive func(string, json.RawMessage)) ([]byte, error) {
	buf := append(rest, chunk...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return buf, nil
		}
		name, data, _ := bytes.Cut(buf[:i], []byte(" "))
		receive(string(name), data)
		buf = buf[i+1:]
	}
}
