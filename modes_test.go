package nodeipc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

func rawConfig(encoding string) *nodeipc.Config {
	c := testConfig()
	c.RawBuffer = true
	c.Encoding = encoding
	return c
}

// rawSink gathers the bytes of raw data events per sender (the Socket on a
// server, nil on a client).
type rawSink struct {
	mu  sync.Mutex
	got map[*nodeipc.Socket]*bytes.Buffer
}

func newRawSink() *rawSink { return &rawSink{got: map[*nodeipc.Socket]*bytes.Buffer{}} }

func (s *rawSink) add(m *nodeipc.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.got[m.Socket]
	if b == nil {
		b = new(bytes.Buffer)
		s.got[m.Socket] = b
	}
	b.Write(m.Data)
}

// wait returns the bytes from one sender once n of them arrived, or fails.
// With from nil on a server it takes the only sender.
func (s *rawSink) wait(t *testing.T, from *nodeipc.Socket, n int) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		var b []byte
		if buf := s.got[from]; buf != nil {
			b = bytes.Clone(buf.Bytes())
		}
		s.mu.Unlock()
		if len(b) >= n {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d raw bytes: % x", len(b), n, b)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Each value a raw emit accepts, with the bytes Node's Buffer.from(value,
// encoding) gives for it.
var rawEmits = []struct {
	value    any
	encoding string
	want     []byte
}{
	{"hello", "utf8", []byte("hello")},
	{"0a141e", "utf8", []byte("0a141e")},
	{"0a141e", "hex", []byte{0x0a, 0x14, 0x1e}},
	{[]int{0x05, 0x6d, 0x5c}, "utf8", []byte{0x05, 0x6d, 0x5c}},
	{[10]uint8{}, "hex", make([]byte, 10)},
	{[]byte{0xff, 0xfe, 0x00, 0x0c, 0x41}, "utf8", []byte{0xff, 0xfe, 0x00, 0x0c, 0x41}},
	{"aGk=", "base64", []byte("hi")},
	{"é", "latin1", []byte{0xe9}},
	{"A€", "utf16le", []byte{0x41, 0x00, 0xac, 0x20}},
	{[]float64{1, 255}, "utf8", []byte{0x01, 0xff}},
	{"€", "utf8", []byte{0xe2, 0x82, 0xac}},
}

func TestRawModeBytesArriveUntouchedBothWays(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			atServer := newRawSink()
			socks := make(chan *nodeipc.Socket, len(rawEmits)+1)
			srv, addr := startServer(t, network, rawConfig("utf8"), func(s *nodeipc.Server) {
				s.On("data", atServer.add)
				s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
			})
			// Client to server: the encoding is a client setting, so each
			// value gets a client of its own.
			for _, e := range rawEmits {
				c, connected := startClient(t, network, addr, rawConfig(e.encoding), nil)
				recv(t, connected, "connect")
				if err := c.Emit("", e.value); err != nil {
					t.Fatalf("emit %v (%s): %v", e.value, e.encoding, err)
				}
				sock := recv(t, socks, "the server's connect")
				if got := atServer.wait(t, sock, len(e.want)); !bytes.Equal(got, e.want) {
					t.Errorf("%v as %s: server got % x, want % x", e.value, e.encoding, got, e.want)
				}
			}
			// Server to client, every kind of value, with the server's
			// encoding (utf8) for strings.
			atClient := newRawSink()
			c, connected := startClient(t, network, addr, rawConfig("utf8"), func(c *nodeipc.Client) {
				c.On("data", atClient.add)
			})
			_ = c
			recv(t, connected, "connect")
			var want []byte
			sock := recv(t, socks, "the server's connect")
			for _, e := range rawEmits {
				v := e.value
				if e.encoding != "utf8" {
					v = e.want
				}
				if err := srv.Emit(sock, "", v); err != nil {
					t.Fatal(err)
				}
				want = append(want, e.want...)
			}
			if got := atClient.wait(t, nil, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("client got % x\nwant       % x", got, want)
			}
		})
	}
}

func TestRawModeRefusesValuesItCannotWrite(t *testing.T) {
	srv, addr := startServer(t, "unix", rawConfig("utf8"), nil)
	_ = srv
	cases := []struct {
		value    any
		encoding string
	}{
		{"hello", "hex"},       // node-ipc writes nothing here; nodeipc says why
		{"abc", "hex"},         // odd number of digits
		{"***", "base64"},      // not base64
		{"€", "latin1"},        // does not fit one byte
		{"x", "ebcdic"},        // unknown encoding
		{[]int{1, 256}, ""},    // not a byte
		{[]int{-1}, ""},        // not a byte
		{[]float64{1.5}, ""},   // not an integer
		{map[string]int{}, ""}, // not a byte sequence
		{"", "utf8"},           // zero bytes
		{[]byte{}, "utf8"},     // zero bytes
	}
	for _, c := range cases {
		cl, connected := startClient(t, "unix", addr, rawConfig(c.encoding), nil)
		recv(t, connected, "connect")
		err := cl.Emit("", c.value)
		var pe *nodeipc.ProtocolError
		if !errors.As(err, &pe) || pe.Code != nodeipc.CodeInvalidRawPayload {
			t.Errorf("emit %#v as %q: got %v, want %s", c.value, c.encoding, err, nodeipc.CodeInvalidRawPayload)
		}
	}
}

// The binary example of node-ipc's README: six bytes holding a big-endian
// uint16 and a big-endian uint32, between a nodeipc raw endpoint and a peer
// that reads and writes the struct with no library at all.
func TestRawBinaryStructBothWays(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			got := newRawSink()
			socks := make(chan *nodeipc.Socket, 1)
			srv, addr := startServer(t, network, rawConfig("utf8"), func(s *nodeipc.Server) {
				s.On("data", got.add)
				s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
			})
			// nodeipc writes, a plain socket reads the six bytes.
			peer := dialRaw(t, network, addr)
			defer peer.Close()
			sock := recv(t, socks, "the server's connect")
			out := make([]byte, 6)
			binary.BigEndian.PutUint16(out[0:], 0xBEEF)
			binary.BigEndian.PutUint32(out[2:], 0x01020304)
			if err := srv.Emit(sock, "", out); err != nil {
				t.Fatal(err)
			}
			in := make([]byte, 6)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(peer, in); err != nil {
				t.Fatal(err)
			}
			if a, b := binary.BigEndian.Uint16(in), binary.BigEndian.Uint32(in[2:]); a != 0xBEEF || b != 0x01020304 {
				t.Fatalf("peer read %#x %#x", a, b)
			}
			// The plain peer writes, nodeipc reads the same six bytes.
			binary.BigEndian.PutUint16(in[0:], 65535)
			binary.BigEndian.PutUint32(in[2:], 4294967295)
			if _, err := peer.Write(in); err != nil {
				t.Fatal(err)
			}
			b := got.wait(t, sock, 6)
			if a, c := binary.BigEndian.Uint16(b), binary.BigEndian.Uint32(b[2:]); a != 65535 || c != 4294967295 || len(b) != 6 {
				t.Fatalf("server read % x", b)
			}
		})
	}
}

// A raw peer sending a large burst, with zero-length writes in between, is
// served completely; another client of the same server is unaffected.
func TestRawBurstAndZeroLengthWrites(t *testing.T) {
	const total = 16 << 20
	got := newRawSink()
	socks := make(chan *nodeipc.Socket, 2)
	srv, addr := startServer(t, "unix", rawConfig("utf8"), func(s *nodeipc.Server) {
		s.On("data", got.add)
		s.On("hello", func(*nodeipc.Message) {}) // raw mode has no events
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	})
	peer := dialRaw(t, "unix", addr)
	defer peer.Close()
	sock := recv(t, socks, "the raw peer's connect")
	other := newRawSink()
	c, connected := startClient(t, "unix", addr, rawConfig("utf8"), func(c *nodeipc.Client) { c.On("data", other.add) })
	recv(t, connected, "connect")
	chunk := bytes.Repeat([]byte{0xff, 0x0c, 0x00, 0x7b}, 16<<10)
	done := make(chan error, 1)
	go func() {
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := peer.Write(nil); err != nil {
				done <- err
				return
			}
			if _, err := peer.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Meanwhile the other client is served.
	if err := c.Emit("", "ping"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "burst written"); err != nil {
		t.Fatal(err)
	}
	b := got.wait(t, sock, total)
	if len(b) != total || !bytes.Equal(b[:len(chunk)], chunk) || !bytes.Equal(b[total-len(chunk):], chunk) {
		t.Fatalf("got %d bytes", len(b))
	}
	var ps *nodeipc.Socket
	for _, s := range srv.Sockets() {
		if s != sock {
			ps = s
		}
	}
	if b := got.wait(t, ps, 4); string(b) != "ping" {
		t.Fatalf("other client sent %q", b)
	}
}

// node-ipc 14's sync mode: the first emit goes at once, each later one after
// one inbound message.
func TestSyncSendsOneEmitPerInboundMessage(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			seen := make(chan int, 16)
			var mu sync.Mutex
			var last *nodeipc.Socket
			srv, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("req", func(m *nodeipc.Message) {
					var n int
					_ = m.Decode(&n)
					mu.Lock()
					last = m.Socket
					mu.Unlock()
					seen <- n
				})
			})
			cfg := testConfig()
			cfg.Sync = true
			c, connected := startClient(t, network, addr, cfg, nil)
			recv(t, connected, "connect")
			for i := 1; i <= 4; i++ {
				if err := c.Emit("req", i); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i <= 4; i++ {
				if n := recv(t, seen, "request"); n != i {
					t.Fatalf("request %d arrived as number %d", n, i)
				}
				// Nothing more until the server answers.
				select {
				case n := <-seen:
					t.Fatalf("request %d sent before an answer", n)
				case <-time.After(50 * time.Millisecond):
				}
				mu.Lock()
				sock := last
				mu.Unlock()
				if err := srv.Emit(sock, "ans", i); err != nil {
					t.Fatal(err)
				}
			}
			// Idle again: the next emit goes at once.
			if err := c.Emit("req", 5); err != nil {
				t.Fatal(err)
			}
			if n := recv(t, seen, "request 5"); n != 5 {
				t.Fatalf("got %d", n)
			}
		})
	}
}

// A sync client whose server never answers fills its bounded queue, gets
// ErrOutboxFull, and on Disconnect reports what it never sent.
func TestSyncQueueIsBoundedAndReportedWhenTheClientEnds(t *testing.T) {
	seen := make(chan struct{}, 64)
	_, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("req", func(*nodeipc.Message) { seen <- struct{}{} })
	})
	cfg := testConfig()
	cfg.Sync = true
	cfg.MaxOutboxBytes = 1000
	errs := make(chan error, 4)
	c, connected := startClient(t, "unix", addr, cfg, func(c *nodeipc.Client) {
		c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	})
	recv(t, connected, "connect")
	queued := 0
	var err error
	for i := 0; i < 100; i++ {
		if err = c.Emit("req", i); err != nil {
			break
		}
		queued++
	}
	if !errors.Is(err, nodeipc.ErrOutboxFull) {
		t.Fatalf("emit into a full sync queue: %v", err)
	}
	recv(t, seen, "the first request")
	c.Disconnect()
	var ue *nodeipc.UnsentError
	if e := recv(t, errs, "unsent report"); !errors.As(e, &ue) || ue.Frames != queued-1 {
		t.Fatalf("got %v, want %d unsent frames", e, queued-1)
	}
	if err := c.Emit("req", 0); !errors.Is(err, nodeipc.ErrDestroyed) {
		t.Fatalf("emit after disconnect: %v", err)
	}
}

func TestIdentifyPeerIsOffByDefault(t *testing.T) {
	gone := make(chan string, 2)
	got := make(chan *nodeipc.Socket, 2)
	_, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("hello", func(m *nodeipc.Message) { got <- m.Socket })
		s.On("socket.disconnected", func(m *nodeipc.Message) { gone <- string(m.Data) })
	})
	c, connected := startClient(t, "unix", addr, nil, nil)
	recv(t, connected, "connect")
	if err := c.Emit("hello", map[string]any{"id": "mallory"}); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got, "hello"); s.ID() != "" {
		t.Fatalf("socket id %q set without IdentifyPeer", s.ID())
	}
	c.Disconnect()
	if d := recv(t, gone, "socket.disconnected"); d != "false" {
		t.Fatalf("socket.disconnected reported %s, want false", d)
	}
}

// Emits made before the connection is up (in the ConnectTo callback) still
// go one at a time: the first is written when the client connects, the
// next only after an answer (node-ipc 14 keeps exactly one in flight).
func TestSyncKeepsOneInFlightForEmitsMadeBeforeConnecting(t *testing.T) {
	srvIPC := newIPC(t)
	srvIPC.Config.ID = "world"
	seen := make(chan int, 16)
	socks := make(chan *nodeipc.Socket, 16)
	srvIPC.Serve("", func() {
		srvIPC.Server.On("req", func(m *nodeipc.Message) {
			var n int
			_ = m.Decode(&n)
			seen <- n
			socks <- m.Socket
		})
	})
	if err := srvIPC.Server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srvIPC.Server.Stop() })
	ipc := newIPC(t)
	ipc.Config.SocketRoot = srvIPC.Config.SocketRoot
	ipc.Config.Sync = true
	_ = ipc.ConnectTo("world", "", func() {
		for i := 1; i <= 3; i++ {
			if err := ipc.Of("world").Emit("req", i); err != nil {
				t.Error(err)
			}
		}
	})
	t.Cleanup(func() { ipc.Disconnect("world") })
	for i := 1; i <= 3; i++ {
		if n := recv(t, seen, "request"); n != i {
			t.Fatalf("request %d arrived as number %d", n, i)
		}
		sock := recv(t, socks, "socket")
		select {
		case n := <-seen:
			t.Fatalf("request %d sent before an answer to %d", n, i)
		case <-time.After(50 * time.Millisecond):
		}
		if err := srvIPC.Server.Emit(sock, "ans", i); err != nil {
			t.Fatal(err)
		}
	}
}
