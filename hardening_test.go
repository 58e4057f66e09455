package nodeipc_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// Limits of the hardening tests: small, so that a test reaches them fast.
const (
	hardMaxRead    = 1 << 20   // MaxReadBuffer: every profile's ceiling
	hardMaxMessage = 128 << 10 // MaxMessageSize: guarded and assured
	hardMaxPending = 128 << 10 // MaxPendingBytes: every profile
	hardRecord     = 1024      // bytes per broadcast record in raw mode
)

// hardened is one server setup of the hardening tests: a profile, its
// transport and how well-behaved and raw peers reach it.
type hardened struct {
	profile string // fast, guarded, assured, raw, codec, guarded-tls
	network string
	addr    string
	cfg     *nodeipc.Config // the server's
	client  *nodeipc.Config // well-behaved clients'
	rawTLS  *tls.Config     // raw peers of a TLS server
	srv     *nodeipc.Server
}

// newHardened configures (without starting) a server of the profile: local
// sockets for every profile (assured directly inside its secure socket
// root), and guarded over TLS with client certificates.
func newHardened(t *testing.T, profile string) *hardened {
	t.Helper()
	cfg := testConfig()
	cfg.MaxReadBuffer = hardMaxRead
	cfg.MaxMessageSize = hardMaxMessage
	cfg.MaxPendingBytes = hardMaxPending
	h := &hardened{profile: profile, network: "unix", cfg: cfg}
	switch profile {
	case "fast":
	case "guarded":
		cfg.Parser = nodeipc.ParserGuarded
	case "assured":
		cfg.Parser = nodeipc.ParserAssured
		cfg.AllowedEvents = []string{"ping", "pong", "tick", "end", "a"}
		cfg.SocketRoot = tempRoot(t)
		h.addr = cfg.SocketRoot + "app.hardened"
	case "raw":
		cfg.Parser = nodeipc.ParserRaw
	case "codec":
		cfg.Codec = lineCodec{}
	case "guarded-tls":
		s := certs(t, "hardened")
		cfg.Parser = nodeipc.ParserGuarded
		cfg.TLS = &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile, TrustedConnections: []string{s.CAFile}}
		h.network, h.addr = "tls", "127.0.0.1:0"
		pair, err := tls.X509KeyPair(s.Client.Cert, s.Client.Key)
		if err != nil {
			t.Fatal(err)
		}
		h.rawTLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: mustPool(t, s.CA), ServerName: "localhost"}
		cl := *cfg
		cl.TLS = &nodeipc.TLSConfig{Private: s.Client.KeyFile, Public: s.Client.CertFile, TrustedConnections: []string{s.CAFile}}
		h.client = &cl
	default:
		t.Fatalf("unknown profile %s", profile)
	}
	if h.addr == "" {
		h.addr = testAddress(t, "unix")
	}
	if h.client == nil {
		cl := *cfg
		h.client = &cl
	}
	return h
}

// start starts the server with handlers from setup; it is stopped when the
// test ends.
func (h *hardened) start(t *testing.T, setup func(*nodeipc.Server)) {
	t.Helper()
	srv, err := nodeipc.NewServer(h.network, h.addr, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	setup(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	h.srv = srv
	if h.network == "tls" {
		h.addr = srv.Addr().String()
	}
}

// dial opens a raw connection (TLS with a client certificate for TLS).
func (h *hardened) dial(t *testing.T) net.Conn {
	t.Helper()
	if h.network == "tls" {
		c, err := tls.Dial("tcp", h.addr, h.rawTLS)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return dialRaw(t, "unix", h.addr)
}

// limit is the largest unfinished frame the profile holds.
func (h *hardened) limit() int {
	switch h.profile {
	case "guarded", "assured", "guarded-tls":
		return hardMaxMessage
	}
	return hardMaxRead
}

// encode is what a peer writes for one event under the profile.
func (h *hardened) encode(event string, data any) []byte {
	switch h.profile {
	case "raw":
		return []byte(fmt.Sprint(data))
	case "codec":
		b, _ := lineCodec{}.Encode(event, data)
		return b
	}
	b, _ := nodeipc.EncodeFrame(event, data)
	return b
}

// writeUntilCut writes prefix, then filler, until a write fails or max
// bytes are written, and returns how many were written and the write error.
func writeUntilCut(c net.Conn, prefix []byte, max int) (int, error) {
	n, err := c.Write(prefix)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for err == nil && n < max {
		var k int
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		k, err = c.Write(chunk)
		n += k
	}
	return n, err
}

func wantCode(t *testing.T, err error, code nodeipc.Code) {
	t.Helper()
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// A peer streaming one frame that never ends is cut once the unfinished
// frame passes MaxMessageSize (guarded, assured) or MaxReadBuffer (fast, a
// custom codec), with ERR_IPC_FRAME_TOO_LARGE: the reader never holds more.
func TestEndlessFrameIsCutAtTheLimit(t *testing.T) {
	for _, profile := range []string{"fast", "guarded", "assured", "codec", "guarded-tls"} {
		t.Run("server/"+profile, func(t *testing.T) {
			h := newHardened(t, profile)
			errs := make(chan error, 4)
			h.start(t, func(s *nodeipc.Server) {
				s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
			})
			raw := h.dial(t)
			defer raw.Close()
			prefix := []byte(`{"type":"a","data":"`)
			if profile == "codec" {
				prefix = []byte(`{"e":"a","d":"`)
			}
			// Far more than the limit plus every kernel buffer between us.
			max := h.limit() + 256<<20
			n, werr := writeUntilCut(raw, prefix, max)
			wantCode(t, recv(t, errs, "error"), nodeipc.CodeFrameTooLarge)
			if werr == nil {
				t.Fatalf("%d bytes written and the connection is still open", n)
			}
			t.Logf("cut after %d bytes written (limit %d): %v", n, h.limit(), werr)
		})
	}
	// The same from a server that streams to a client.
	for _, profile := range []string{"fast", "guarded", "codec"} {
		t.Run("client/"+profile, func(t *testing.T) {
			h := newHardened(t, profile)
			var conns atomic.Int32
			addr := rawServer(t, func(c net.Conn) {
				conns.Add(1)
				go func() { _, _ = io.Copy(io.Discard, c) }()
				_, _ = writeUntilCut(c, []byte(`{"type":"a","data":"`), h.limit()+256<<20)
			})
			errs := make(chan error, 4)
			destroyed := make(chan struct{}, 1)
			cfg := *h.client
			cfg.Parser, cfg.Codec = nodeipc.ParserFast, nil
			switch profile {
			case "guarded":
				cfg.Parser = nodeipc.ParserGuarded
			case "codec":
				cfg.Codec = lineCodec{}
			}
			startClient(t, "tcp", addr, &cfg, func(c *nodeipc.Client) {
				c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
				c.On("destroy", func(*nodeipc.Message) { destroyed <- struct{}{} })
			})
			wantCode(t, recv(t, errs, "error"), nodeipc.CodeFrameTooLarge)
			recv(t, destroyed, "destroy")
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d connections: the client reconnected after the violation", n)
			}
		})
	}
}

// In raw mode nothing is held: every read is delivered as it arrives, so an
// endless stream costs one read buffer.
func TestRawModeDeliversAnEndlessStreamAsItArrives(t *testing.T) {
	h := newHardened(t, "raw")
	const total = 16 << 20
	var got, largest atomic.Int64
	done := make(chan struct{})
	h.start(t, func(s *nodeipc.Server) {
		s.On("data", func(m *nodeipc.Message) {
			if int64(len(m.Data)) > largest.Load() {
				largest.Store(int64(len(m.Data)))
			}
			if got.Add(int64(len(m.Data))) == total {
				close(done)
			}
		})
	})
	raw := h.dial(t)
	defer raw.Close()
	if n, err := writeUntilCut(raw, nil, total); err != nil || n != total {
		t.Fatalf("wrote %d: %v", n, err)
	}
	recv(t, done, "every byte")
	if l := largest.Load(); l > 64<<10 {
		t.Fatalf("a data event of %d bytes: raw mode buffered", l)
	}
}

// goodPeer is a well-behaved client of a hardened server that counts the
// broadcast records it receives, checking that they come complete and in
// order.
type goodPeer struct {
	c    *nodeipc.Client
	next atomic.Int64
	bad  atomic.Value // error
	buf  []byte       // raw mode: bytes of an unfinished record
}

func (h *hardened) goodPeer(t *testing.T) *goodPeer {
	t.Helper()
	g := &goodPeer{}
	check := func(seq int) {
		if int64(seq) != g.next.Load() {
			g.bad.Store(fmt.Errorf("record %d, want %d", seq, g.next.Load()))
			return
		}
		g.next.Add(1)
	}
	c, connected := startClient(t, h.network, h.addr, h.client, func(c *nodeipc.Client) {
		if h.profile == "raw" {
			c.On("data", func(m *nodeipc.Message) {
				g.buf = append(g.buf, m.Data...)
				for len(g.buf) >= hardRecord {
					seq, _ := strconv.Atoi(string(g.buf[:8]))
					check(seq)
					g.buf = g.buf[hardRecord:]
				}
			})
			return
		}
		c.On("tick", func(m *nodeipc.Message) {
			var v struct{ Seq int }
			if err := m.Decode(&v); err != nil {
				g.bad.Store(err)
			}
			check(v.Seq)
		})
	})
	recv(t, connected, "connect")
	g.c = c
	return g
}

// record is broadcast number i: about 1 KiB.
func (h *hardened) broadcast(i int) error {
	if h.profile == "raw" {
		rec := fmt.Sprintf("%08d", i) + strings.Repeat("r", hardRecord-8)
		return h.srv.Broadcast(rec, nil)
	}
	return h.srv.Broadcast("tick", map[string]any{"seq": i, "pad": strings.Repeat("p", 1000)})
}

// A client that never reads does not stall broadcast to the others: its
// queue stops at MaxPendingBytes with ERR_IPC_BACKPRESSURE (and, in the
// guarded profiles, the connection is closed), while the others get every
// record, in order.
func TestSlowReaderDoesNotStallBroadcast(t *testing.T) {
	for _, profile := range []string{"fast", "guarded", "assured", "raw", "codec", "guarded-tls"} {
		t.Run(profile, func(t *testing.T) {
			h := newHardened(t, profile)
			sockets := make(chan *nodeipc.Socket, 8)
			closed := make(chan *nodeipc.Socket, 8)
			h.start(t, func(s *nodeipc.Server) {
				s.On("connect", func(m *nodeipc.Message) { sockets <- m.Socket })
				s.On("close", func(m *nodeipc.Message) { closed <- m.Socket })
			})
			var good []*goodPeer
			for range 3 {
				good = append(good, h.goodPeer(t))
				recv(t, sockets, "connect")
			}
			slow := h.dial(t) // never reads
			defer slow.Close()
			slowSock := recv(t, sockets, "connect of the slow reader")

			// Records are sent as fast as the well-behaved clients take
			// them (a window of 64) until the slow one's queue is full (its
			// kernel buffers fill first), then a thousand more.
			const window, most = 64, 100000
			var pressure error
			n, after := 0, 0
			deadline := time.Now().Add(60 * time.Second)
			for ; after < 1000; n++ {
				i := n
				if i == most {
					t.Fatalf("%d records sent and the slow reader's queue never filled", most)
				}
				for {
					lowest := int64(most)
					for _, g := range good {
						if err, _ := g.bad.Load().(error); err != nil {
							t.Fatal(err)
						}
						lowest = min(lowest, g.next.Load())
					}
					if int64(i)-lowest < window {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("broadcast stalled at record %d: the clients have %d", i, lowest)
					}
					time.Sleep(time.Millisecond)
				}
				if err := h.broadcast(i); err != nil {
					// Only the slow reader's queue may refuse a record.
					for _, line := range strings.Split(err.Error(), "\n") {
						if !strings.HasPrefix(line, slowSock.String()+": ") {
							t.Fatalf("record %d refused for a well-behaved client: %s", i, line)
						}
					}
					if pressure == nil {
						pressure = err
					}
				}
				if pressure != nil {
					after++
				}
			}
			for _, g := range good {
				for g.next.Load() < int64(n) {
					if err, _ := g.bad.Load().(error); err != nil {
						t.Fatal(err)
					}
					if time.Now().After(deadline) {
						t.Fatalf("a well-behaved client got %d of %d records", g.next.Load(), n)
					}
					time.Sleep(time.Millisecond)
				}
			}
			wantCode(t, pressure, nodeipc.CodeBackpressure)
			if q := slowSock.Queued(); q > hardMaxPending {
				t.Fatalf("%d bytes queued for the slow reader, over MaxPendingBytes", q)
			}
			switch profile {
			case "guarded", "assured", "guarded-tls":
				for s := recv(t, closed, "close of the slow reader"); s != slowSock; s = recv(t, closed, "close of the slow reader") {
				}
			default:
				// Still open, and what it was sent is whole records: a
				// refused record is never half written.
				h.checkAligned(t, slow, slowSock)
			}
		})
	}
}

// checkAligned reads what the slow reader was sent, then an end marker
// queued once there is room, and checks that it is a sequence of whole
// records in increasing order.
func (h *hardened) checkAligned(t *testing.T, c net.Conn, sock *nodeipc.Socket) {
	t.Helper()
	var (
		mu  sync.Mutex
		got []byte
	)
	end := h.encode("end", "end-of-stream")
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := c.Read(buf)
			mu.Lock()
			got = append(got, buf[:n]...)
			found := bytes.HasSuffix(got, end)
			mu.Unlock()
			if found || err != nil {
				readDone <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if h.profile == "raw" {
			err = h.srv.Emit(sock, string(end), nil)
		} else {
			err = h.srv.Emit(sock, "end", "end-of-stream")
		}
		if err == nil {
			break
		}
		wantCode(t, err, nodeipc.CodeBackpressure)
		if time.Now().After(deadline) {
			t.Fatal("the slow reader's queue never drained")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := recv(t, readDone, "end marker"); err != nil {
		t.Fatalf("reading the slow reader's stream: %v", err)
	}
	stream := got[:len(got)-len(end)]
	last, count := -1, 0
	for len(stream) > 0 {
		var seq int
		switch h.profile {
		case "raw":
			if len(stream) < hardRecord {
				t.Fatalf("a partial record of %d bytes", len(stream))
			}
			seq, _ = strconv.Atoi(string(stream[:8]))
			stream = stream[hardRecord:]
		default:
			delim := byte('\f')
			if h.profile == "codec" {
				delim = '\n'
			}
			i := bytes.IndexByte(stream, delim)
			if i < 0 {
				t.Fatalf("a partial frame of %d bytes", len(stream))
			}
			var v struct {
				Data, D struct{ Seq int }
			}
			if err := json.Unmarshal(stream[:i], &v); err != nil {
				t.Fatalf("frame %q: %v", stream[:min(i, 40)], err)
			}
			seq = v.Data.Seq + v.D.Seq
			stream = stream[i+1:]
		}
		if seq <= last {
			t.Fatalf("record %d after %d", seq, last)
		}
		last = seq
		count++
	}
	t.Logf("the slow reader got %d whole records (up to %d), then the end marker", count, last)
}

// Connections beyond MaxConnections are refused (closed at once, an error
// event each), while the clients already connected keep working, and a
// slot freed is usable again.
func TestConnectionFloodBeyondMaxConnections(t *testing.T) {
	for _, profile := range []string{"fast", "guarded", "assured", "raw", "guarded-tls"} {
		t.Run(profile, func(t *testing.T) {
			const max, good, flood = 6, 3, 60
			h := newHardened(t, profile)
			h.cfg.MaxConnections = max
			var refused atomic.Int32
			h.start(t, func(s *nodeipc.Server) {
				s.On("error", func(m *nodeipc.Message) {
					if strings.Contains(m.Err.Error(), "MaxConnections") {
						refused.Add(1)
					}
				})
				if profile == "raw" {
					s.On("data", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "", []byte(m.Data)) })
				} else {
					s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
				}
			})
			var clients []*roundTripper
			for range good {
				clients = append(clients, h.roundTripper(t))
			}
			waitSockets(t, h.srv, good)

			// The flood: every connection at once; each then asks for a
			// round trip, which only an accepted one gets.
			var wg sync.WaitGroup
			var accepted, closed atomic.Int32
			conns := make([]net.Conn, flood)
			for i := range flood {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := h.dialQuiet()
					if err != nil {
						closed.Add(1) // a TLS handshake the server cut
						return
					}
					conns[i] = c
					if h.probe(c, i) {
						accepted.Add(1)
					} else {
						closed.Add(1)
					}
				}()
			}
			wg.Wait()
			// The clients connected before the flood still work, while the
			// accepted flood connections are held open.
			for i, c := range clients {
				c.roundTrip(t, i)
			}
			if a := accepted.Load(); a != max-good {
				t.Fatalf("%d flood connections accepted, want %d", a, max-good)
			}
			if c := closed.Load(); c != flood-(max-good) {
				t.Fatalf("%d flood connections refused, want %d", c, flood-(max-good))
			}
			for deadline := time.Now().Add(10 * time.Second); refused.Load() != flood-(max-good); {
				if time.Now().After(deadline) {
					t.Fatalf("%d refusals reported, want %d", refused.Load(), flood-(max-good))
				}
				time.Sleep(5 * time.Millisecond)
			}
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
			waitSockets(t, h.srv, good)
			// The slots are free again.
			h.roundTripper(t).roundTrip(t, 99)
			for i, c := range clients {
				c.roundTrip(t, i)
			}
		})
	}
}

// dialQuiet is dial returning the error (TLS handshakes fail for refused
// connections).
func (h *hardened) dialQuiet() (net.Conn, error) {
	if h.network == "tls" {
		d := &tls.Dialer{Config: h.rawTLS}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.DialContext(ctx, "tcp", h.addr)
	}
	return dialLocalForTest(h.addr)
}

// probe asks for one round trip on a raw connection and reports whether the
// answer came (false: the server closed the connection).
func (h *hardened) probe(c net.Conn, i int) bool {
	want := h.encode("pong", "probe-"+strconv.Itoa(i))
	if _, err := c.Write(h.encode("ping", "probe-"+strconv.Itoa(i))); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return bytes.Contains(got, want)
		}
	}
	return true
}

func waitSockets(t *testing.T, srv *nodeipc.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Sockets()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets, want %d", len(srv.Sockets()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// roundTripper is a well-behaved client that asks for a round trip on
// demand.
type roundTripper struct {
	c       *nodeipc.Client
	replies chan string
	raw     bool
}

func (h *hardened) roundTripper(t *testing.T) *roundTripper {
	t.Helper()
	r := &roundTripper{replies: make(chan string, 16), raw: h.profile == "raw"}
	c, connected := startClient(t, h.network, h.addr, h.client, func(c *nodeipc.Client) {
		c.On("pong", func(m *nodeipc.Message) { r.replies <- string(m.Data) })
		c.On("data", func(m *nodeipc.Message) { r.replies <- string(m.Data) })
	})
	recv(t, connected, "connect")
	r.c = c
	return r
}

func (r *roundTripper) roundTrip(t *testing.T, i int) {
	t.Helper()
	msg := "round-trip-" + strconv.Itoa(i)
	want := strconv.Quote(msg)
	var err error
	if r.raw {
		want = msg
		err = r.c.Emit(msg, nil)
	} else {
		err = r.c.Emit("ping", msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(t, r.replies, "round trip"); got != want {
		t.Fatalf("round trip: got %s, want %s", got, want)
	}
}
