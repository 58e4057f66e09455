package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// rawPayload holds the bytes node-ipc 9 and 10 corrupt with the utf8
// encoding (0xff, 0xfe), NUL, and the frame delimiter 0x0c, which is plain
// data in raw mode.
var rawPayload = []byte{0xff, 0xfe, 0x41, 0x0c, 0x00, 0x7f, 0x80, 0xc3, 0xa9, 0x0c}

// rawEncoding is what each version needs for a lossless round trip:
// node-ipc 14 leaves raw bytes alone; 9 and 10 decode reads with the
// socket encoding, which only hex survives.
func rawEncoding(lib int) string {
	if lib == 14 {
		return "utf8"
	}
	return "hex"
}

func rawGoConfig(encoding string) *nodeipc.Config {
	c := goConfig()
	c.RawBuffer = true
	c.Encoding = encoding
	return c
}

// byteSink collects raw data events.
type byteSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *byteSink) add(m *nodeipc.Message) {
	s.mu.Lock()
	s.buf.Write(m.Data)
	s.mu.Unlock()
}

func (s *byteSink) wait(t *testing.T, n int) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		b := bytes.Clone(s.buf.Bytes())
		s.mu.Unlock()
		if len(b) >= n {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d raw bytes: % x", len(b), n, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nodeBytes collects a node-ipc peer's data lines until n bytes arrived.
func nodeBytes(t *testing.T, p *peer, n int) []byte {
	t.Helper()
	var got []byte
	for len(got) < n {
		e := p.expect("data")
		b, err := hex.DecodeString(e.str("hex"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	return got
}

func rawNodeConfig(lib int) map[string]any {
	return map[string]any{"rawBuffer": true, "encoding": rawEncoding(lib)}
}

// Raw mode between nodeipc and node-ipc, both directions and both roles:
// bytes arrive identical, and strings turn into the same bytes on both
// sides for the encoding in use.
func TestRawBuffersWithNodeIPC(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		enc := rawEncoding(lib)
		// A string value and the bytes it stands for with enc.
		str, strBytes := "héllo\f", []byte("héllo\f")
		if enc == "hex" {
			str, strBytes = "0a141eff", []byte{0x0a, 0x14, 0x1e, 0xff}
		}
		want := append(append([]byte{}, rawPayload...), strBytes...)

		t.Run("go server", func(t *testing.T) {
			in := &byteSink{}
			socks := make(chan *nodeipc.Socket, 1)
			srv, ep := listenGo(t, network, rawGoConfig(enc), func(s *nodeipc.Server) {
				s.On("data", in.add)
				s.On("connect", func(m *nodeipc.Message) {
					select {
					case socks <- m.Socket:
					default:
					}
				})
			})
			p := startPeer(t, ep.opts(lib, "client", map[string]any{"config": rawNodeConfig(lib)}))
			p.expect("connect")
			sock := within(t, socks, "connect")
			p.send(map[string]any{"cmd": "raw", "hex": hex.EncodeToString(rawPayload)})
			p.send(map[string]any{"cmd": "rawstr", "value": str})
			if got := in.wait(t, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("nodeipc server got % x\nwant                % x", got, want)
			}
			if err := srv.Emit(sock, "", rawPayload); err != nil {
				t.Fatal(err)
			}
			if err := srv.Emit(sock, "", str); err != nil {
				t.Fatal(err)
			}
			if got := nodeBytes(t, p, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("node-ipc %d client got % x\nwant                     % x", lib, got, want)
			}
		})

		t.Run("node server", func(t *testing.T) {
			ep := newEndpoint(t, network)
			p := startPeer(t, ep.opts(lib, "server", map[string]any{"config": rawNodeConfig(lib)}))
			in := &byteSink{}
			c, err := nodeipc.NewClient("go", ep.network, ep.addr, rawGoConfig(enc))
			if err != nil {
				t.Fatal(err)
			}
			connected := make(chan struct{}, 1)
			c.On("connect", func(*nodeipc.Message) {
				select {
				case connected <- struct{}{}:
				default:
				}
			})
			c.On("data", in.add)
			c.Connect()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = c.Close(ctx)
			})
			within(t, connected, "connect")
			p.expect("connect")
			if err := c.Emit("", rawPayload); err != nil {
				t.Fatal(err)
			}
			if err := c.Emit("", str); err != nil {
				t.Fatal(err)
			}
			if got := nodeBytes(t, p, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("node-ipc %d server got % x\nwant                     % x", lib, got, want)
			}
			p.send(map[string]any{"cmd": "raw", "sock": 1, "hex": hex.EncodeToString(rawPayload)})
			p.send(map[string]any{"cmd": "rawstr", "sock": 1, "value": str})
			if got := in.wait(t, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("nodeipc client got % x\nwant                % x", got, want)
			}
		})
	})
}
