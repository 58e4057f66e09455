package nodeipc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// transports are the stream transports every behaviour test runs over.
var transports = []string{"unix", "tcp"}

// testAddress returns a fresh address for network: a socket path in a
// private directory (a pipe name on Windows) or a loopback port chosen by
// the system.
func testAddress(t testing.TB, network string) string {
	t.Helper()
	if network != "unix" {
		return "127.0.0.1:0"
	}
	if runtime.GOOS == "windows" {
		return fmt.Sprintf("/nodeipc-test/%d-%d", time.Now().UnixNano(), rand.Int())
	}
	return tempRoot(t) + "s.sock"
}

func testConfig() *nodeipc.Config {
	c := nodeipc.DefaultConfig()
	c.Silent = true
	c.Retry = 20 * time.Millisecond
	c.FlushTimeout = time.Second
	return &c
}

// startServer starts a server and stops it (waiting for its goroutines)
// when the test ends. It returns the address clients dial.
func startServer(t testing.TB, network string, cfg *nodeipc.Config, setup func(*nodeipc.Server)) (*nodeipc.Server, string) {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	srv, err := nodeipc.NewServer(network, testAddress(t, network), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(srv)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	addr := srv.Path()
	if network != "unix" {
		addr = srv.Addr().String()
	}
	return srv, addr
}

// startClient connects a client and closes it when the test ends. connected
// receives once per connect event.
func startClient(t testing.TB, network, addr string, cfg *nodeipc.Config, setup func(*nodeipc.Client)) (*nodeipc.Client, <-chan struct{}) {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	connected := make(chan struct{}, 16)
	c, err := nodeipc.NewClient("test", network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
	if setup != nil {
		setup(c)
	}
	c.Connect()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, connected
}

func TestEventsFlowBothWays(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			srv, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("message", func(m *nodeipc.Message) {
					var v map[string]any
					if err := m.Decode(&v); err != nil {
						t.Error(err)
					}
					v["seen"] = true
					if err := s.Emit(m.Socket, "reply", v); err != nil {
						t.Error(err)
					}
				})
			})
			_ = srv
			replies := make(chan *nodeipc.Message, 1)
			c, connected := startClient(t, network, addr, nil, func(c *nodeipc.Client) {
				c.On("reply", func(m *nodeipc.Message) { replies <- m })
			})
			recv(t, connected, "connect")
			if err := c.Emit("message", map[string]any{"hello": "wörld"}); err != nil {
				t.Fatal(err)
			}
			m := recv(t, replies, "reply")
			if m.Type != "reply" || string(m.Data) != `{"hello":"wörld","seen":true}` {
				t.Fatalf("got %s %s", m.Type, m.Data)
			}
		})
	}
}

func TestBroadcastReachesEveryClientAndSocketDisconnectedReportsTheID(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			cfg := testConfig()
			cfg.IdentifyPeer = true
			joined := make(chan string, 4)
			gone := make(chan string, 4)
			closed := make(chan struct{}, 4)
			srv, addr := startServer(t, network, cfg, func(s *nodeipc.Server) {
				s.On("hello", func(m *nodeipc.Message) { joined <- m.Socket.ID() })
				s.On("socket.disconnected", func(m *nodeipc.Message) { gone <- string(m.Data) })
				s.On("close", func(*nodeipc.Message) { closed <- struct{}{} })
			})
			got := make(chan string, 8)
			var clients []*nodeipc.Client
			for i := range 3 {
				c, connected := startClient(t, network, addr, nil, func(c *nodeipc.Client) {
					c.On("news", func(m *nodeipc.Message) { got <- fmt.Sprintf("%d:%s", i, m.Data) })
				})
				recv(t, connected, "connect")
				if err := c.Emit("hello", map[string]any{"id": fmt.Sprintf("c%d", i)}); err != nil {
					t.Fatal(err)
				}
				recv(t, joined, "hello")
				clients = append(clients, c)
			}
			if n := len(srv.Sockets()); n != 3 {
				t.Fatalf("%d sockets, want 3", n)
			}
			if err := srv.Broadcast("news", "extra"); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for range 3 {
				seen[recv(t, got, "broadcast")] = true
			}
			for i := range 3 {
				if !seen[fmt.Sprintf(`%d:"extra"`, i)] {
					t.Fatalf("client %d missed the broadcast: %v", i, seen)
				}
			}
			clients[1].Disconnect()
			if id := recv(t, gone, "socket.disconnected"); id != `"c1"` {
				t.Fatalf("socket.disconnected id %s, want \"c1\"", id)
			}
			recv(t, closed, "close")
			if n := len(srv.Sockets()); n != 2 {
				t.Fatalf("%d sockets after one left, want 2", n)
			}
		})
	}
}

// A server's sockets have names that tell them apart, so that the errors
// Broadcast joins say which peers they are about: a TCP peer by its address,
// a Unix socket or pipe peer (which share the server's address) by number.
func TestSocketsOfOneServerHaveDistinctNames(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			connected := make(chan *nodeipc.Socket, 4)
			srv, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("connect", func(m *nodeipc.Message) { connected <- m.Socket })
			})
			names := map[string]bool{}
			for range 3 {
				_, up := startClient(t, network, addr, nil, nil)
				recv(t, up, "connect")
				name := recv(t, connected, "the server's connect").String()
				if names[name] || name == "" {
					t.Fatalf("socket name %q again (have %v)", name, names)
				}
				names[name] = true
			}
			if n := len(srv.Sockets()); n != 3 {
				t.Fatalf("%d sockets, want 3", n)
			}
		})
	}
}

func TestMaxConnectionsRefusesExtraClientsOnly(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 2
	refused := make(chan error, 4)
	srv, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { refused <- m.Err })
		s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", nil) })
	})
	pongs := make(chan struct{}, 4)
	var first *nodeipc.Client
	for range 2 {
		c, connected := startClient(t, "tcp", addr, nil, func(c *nodeipc.Client) {
			c.On("pong", func(*nodeipc.Message) { pongs <- struct{}{} })
		})
		recv(t, connected, "connect")
		first = c
	}
	// Wait until both are registered before the third dials.
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Sockets()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := recv(t, refused, "refusal"); !strings.Contains(err.Error(), "MaxConnections") {
		t.Fatalf("error %v", err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("the extra connection was not closed")
	}
	if err := first.Emit("ping", nil); err != nil {
		t.Fatal(err)
	}
	recv(t, pongs, "pong from an existing client")
}

// hostileFrames are frames that crash or confuse node-ipc (reference §1.3),
// with the code each must produce.
// hostileFrames are frames a peer may send that are never delivered. alone
// marks the names a peer may not send: in the fast profile only that frame
// is refused (an error event) and the connection stays up; in the guarded
// profiles, and for every other frame, the connection is closed.
var hostileFrames = []struct {
	name  string
	bytes string
	code  nodeipc.Code
	alone bool
}{
	{"not JSON", "not json\f", nodeipc.CodeInvalidJSON, false},
	{"empty frame", "\f", nodeipc.CodeInvalidJSON, false},
	{"number", "5\f", nodeipc.CodeInvalidMessage, false},
	{"string", "\"str\"\f", nodeipc.CodeInvalidMessage, false},
	{"array", "[1]\f", nodeipc.CodeInvalidMessage, false},
	{"null", "null\f", nodeipc.CodeInvalidMessage, false},
	{"no type", "{\"data\":1}\f", nodeipc.CodeInvalidEvent, false},
	{"numeric type", "{\"type\":5}\f", nodeipc.CodeInvalidEvent, false},
	{"toString", "{\"type\":\"toString\"}\f", nodeipc.CodeInvalidEvent, true},
	{"constructor", "{\"type\":\"constructor\"}\f", nodeipc.CodeInvalidEvent, true},
	{"__proto__", "{\"type\":\"__proto__\"}\f", nodeipc.CodeInvalidEvent, true},
	{"error spoof", "{\"type\":\"error\",\"data\":\"x\"}\f", nodeipc.CodeReservedEvent, true},
	{"close spoof", "{\"type\":\"close\"}\f", nodeipc.CodeReservedEvent, true},
	{"connect spoof", "{\"type\":\"connect\"}\f", nodeipc.CodeReservedEvent, true},
	{"data as an event", "{\"type\":\"data\",\"data\":1}\f", nodeipc.CodeReservedEvent, true},
	{"wildcard", "{\"type\":\"*\",\"data\":1}\f", nodeipc.CodeReservedEvent, true},
	{"invalid UTF-8", "{\"type\":\"a\",\"data\":\"\xff\xfe\"}\f", nodeipc.CodeInvalidJSON, false},
	{"deep nesting", strings.Repeat("[", 100000) + "\f", nodeipc.CodeInvalidJSON, false},
	{"partial frame then EOF", "{\"type\":\"a\",\"da", nodeipc.CodeIncompleteFrame, false},
}

func TestHostileFramesToServerCloseOnlyThatConnection(t *testing.T) {
	for _, parser := range []string{nodeipc.ParserFast, nodeipc.ParserGuarded} {
		for _, network := range transports {
			t.Run(parser+"/"+network, func(t *testing.T) {
				errs := make(chan error, 4)
				cfg := testConfig()
				cfg.Parser = parser
				_, addr := startServer(t, network, cfg, func(s *nodeipc.Server) {
					s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
					s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
					s.On("a", func(m *nodeipc.Message) { t.Errorf("hostile frame delivered: %s", m.Data) })
					s.On("*", func(m *nodeipc.Message) {
						if m.Type != "ping" {
							t.Errorf("hostile frame delivered to the wildcard handler: %s %s", m.Type, m.Data)
						}
					})
				})
				pongs := make(chan string, 64)
				good, connected := startClient(t, network, addr, nil, func(c *nodeipc.Client) {
					c.On("pong", func(m *nodeipc.Message) { pongs <- string(m.Data) })
				})
				recv(t, connected, "connect")
				for i, h := range hostileFrames {
					raw := dialRaw(t, network, addr)
					stays := h.alone && parser == nodeipc.ParserFast
					frames := h.bytes
					if stays {
						frames += "{\"type\":\"ping\",\"data\":\"after\"}\f"
					}
					if _, err := io.WriteString(raw, frames); err != nil {
						t.Fatal(err)
					}
					if h.code == nodeipc.CodeIncompleteFrame {
						closeWrite(raw)
					}
					err := recv(t, errs, "error for "+h.name)
					var pe *nodeipc.ProtocolError
					if !errors.As(err, &pe) || pe.Code != h.code {
						t.Fatalf("%s: got %v, want %s", h.name, err, h.code)
					}
					_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
					if stays {
						// Only that frame was refused: the next one is
						// answered on the same connection.
						want := "{\"type\":\"pong\",\"data\":\"after\"}\f"
						buf := make([]byte, len(want))
						if _, err := io.ReadFull(raw, buf); err != nil || string(buf) != want {
							t.Fatalf("%s: after the refused frame got %q, %v; want %q", h.name, buf, err, want)
						}
					} else if _, err := io.ReadAll(raw); err != nil {
						t.Fatalf("%s: connection not closed: %v", h.name, err)
					}
					raw.Close()
					// The well-behaved client is unaffected.
					if err := good.Emit("ping", i); err != nil {
						t.Fatal(err)
					}
					if got := recv(t, pongs, "pong"); got != fmt.Sprint(i) {
						t.Fatalf("pong %s, want %d", got, i)
					}
				}
			})
		}
	}
}

func dialRaw(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	if network == "unix" {
		c, err := dialLocalForTest(addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// rawServer accepts connections on a loopback port and hands each to serve.
func rawServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

func TestHostileFramesToClientEndItWithoutReconnecting(t *testing.T) {
	for _, parser := range []string{nodeipc.ParserFast, nodeipc.ParserGuarded} {
		for _, h := range hostileFrames {
			if h.code == nodeipc.CodeIncompleteFrame {
				continue // a partial frame then EOF: see TestClientReconnectsAfterAFrameCutByTheServersEnd
			}
			stays := h.alone && parser == nodeipc.ParserFast
			t.Run(parser+"/"+h.name, func(t *testing.T) {
				var mu sync.Mutex
				conns := 0
				addr := rawServer(t, func(c net.Conn) {
					mu.Lock()
					conns++
					mu.Unlock()
					_, _ = io.WriteString(c, h.bytes+"{\"type\":\"after\",\"data\":1}\f")
					_, _ = io.Copy(io.Discard, c)
				})
				events := make(chan string, 16)
				var perr error
				cfg := testConfig()
				cfg.Parser = parser
				_, _ = startClient(t, "tcp", addr, cfg, func(c *nodeipc.Client) {
					for _, ev := range []string{"error", "disconnect", "destroy", "after"} {
						c.On(ev, func(m *nodeipc.Message) {
							if ev == "error" {
								perr = m.Err
							}
							events <- ev
						})
					}
				})
				want := []string{"error", "disconnect", "destroy"}
				if stays {
					// Only that frame was refused; the next one arrives.
					want = []string{"error", "after"}
				}
				for _, w := range want {
					if got := recv(t, events, w); got != w {
						t.Fatalf("event %s, want %s", got, w)
					}
				}
				var pe *nodeipc.ProtocolError
				if !errors.As(perr, &pe) || pe.Code != h.code {
					t.Fatalf("got %v, want %s", perr, h.code)
				}
				time.Sleep(100 * time.Millisecond)
				select {
				case ev := <-events:
					t.Fatalf("unexpected %s event", ev)
				default:
				}
				mu.Lock()
				defer mu.Unlock()
				if conns != 1 {
					t.Fatalf("%d connections: the client reconnected after a protocol violation", conns)
				}
			})
		}
	}
}

// A server that dies in the middle of writing a frame leaves its client an
// unfinished frame: that is reported (ERR_IPC_INCOMPLETE_FRAME), and, not
// being a protocol violation, the client reconnects.
func TestClientReconnectsAfterAFrameCutByTheServersEnd(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	addr := rawServer(t, func(c net.Conn) {
		mu.Lock()
		conns++
		mu.Unlock()
		_, _ = io.WriteString(c, "{\"type\":\"a\",\"da")
	})
	events := make(chan string, 16)
	startClient(t, "tcp", addr, nil, func(c *nodeipc.Client) {
		c.On("error", func(m *nodeipc.Message) {
			var pe *nodeipc.ProtocolError
			if errors.As(m.Err, &pe) {
				events <- string(pe.Code)
			}
		})
		c.On("disconnect", func(*nodeipc.Message) { events <- "disconnect" })
		c.On("destroy", func(*nodeipc.Message) { events <- "destroy" })
	})
	for _, want := range []string{string(nodeipc.CodeIncompleteFrame), "disconnect", string(nodeipc.CodeIncompleteFrame)} {
		if got := recv(t, events, want); got != want {
			t.Fatalf("event %s, want %s", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns < 2 {
		t.Fatalf("%d connections: the client did not reconnect", conns)
	}
}

func TestClientReconnectsAndDeliversWhatWasEmittedMeanwhile(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			got := make(chan string, 64)
			setup := func(s *nodeipc.Server) {
				s.On("n", func(m *nodeipc.Message) { got <- string(m.Data) })
			}
			cfg := testConfig()
			srv, err := nodeipc.NewServer(network, testAddress(t, network), cfg)
			if err != nil {
				t.Fatal(err)
			}
			setup(srv)
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			addr := srv.Path()
			if network == "tcp" {
				addr = srv.Addr().String()
			}
			disconnected := make(chan struct{}, 16)
			c, connected := startClient(t, network, addr, nil, func(c *nodeipc.Client) {
				c.On("disconnect", func(*nodeipc.Message) {
					// One per failed attempt while the server is down: never block the client.
					select {
					case disconnected <- struct{}{}:
					default:
					}
				})
			})
			recv(t, connected, "connect")
			if err := c.Emit("n", 0); err != nil {
				t.Fatal(err)
			}
			if v := recv(t, got, "first"); v != "0" {
				t.Fatalf("got %s", v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			recv(t, disconnected, "disconnect")
			for i := 1; i <= 100; i++ {
				if err := c.Emit("n", i); err != nil {
					t.Fatalf("emit %d while disconnected: %v", i, err)
				}
			}
			srv2, err := nodeipc.NewServer(network, addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			setup(srv2)
			if err := srv2.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv2.Shutdown(context.Background()) })
			recv(t, connected, "reconnect")
			for i := 1; i <= 100; i++ {
				if v := recv(t, got, "queued emit"); v != fmt.Sprint(i) {
					t.Fatalf("got %s, want %d", v, i)
				}
			}
			if c.Reconnects() != 1 {
				t.Fatalf("Reconnects() = %d", c.Reconnects())
			}
		})
	}
}

func TestRetrySemantics(t *testing.T) {
	// Nothing listens at this address.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cases := []struct {
		name       string
		maxRetries int
		stop       bool
		attempts   int
	}{
		{"MaxRetries 2 means 3 attempts", 2, false, 3},
		{"MaxRetries 0 means one attempt", 0, false, 1},
		{"StopRetrying means one attempt", nodeipc.RetryForever, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRetries = c.maxRetries
			cfg.StopRetrying = c.stop
			events := make(chan string, 32)
			_, _ = startClient(t, "tcp", addr, cfg, func(cl *nodeipc.Client) {
				for _, ev := range []string{"error", "disconnect", "destroy"} {
					cl.On(ev, func(*nodeipc.Message) { events <- ev })
				}
			})
			var seq []string
			for {
				ev := recv(t, events, "lifecycle event")
				seq = append(seq, ev)
				if ev == "destroy" {
					break
				}
			}
			want := strings.Repeat("error disconnect ", c.attempts) + "destroy"
			if got := strings.Join(seq, " "); got != want {
				t.Fatalf("events %q, want %q", got, want)
			}
		})
	}
}

func TestStopRetryingDuringAWaitDestroys(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig()
	cfg.Retry = time.Hour
	events := make(chan string, 8)
	c, _ := startClient(t, "tcp", addr, cfg, func(c *nodeipc.Client) {
		for _, ev := range []string{"error", "disconnect", "destroy"} {
			c.On(ev, func(*nodeipc.Message) { events <- ev })
		}
	})
	recv(t, events, "error")
	recv(t, events, "disconnect")
	c.StopRetrying()
	if ev := recv(t, events, "destroy"); ev != "destroy" {
		t.Fatalf("got %s", ev)
	}
}

func TestOutboxBoundsAndDropMode(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig()
	cfg.Retry = time.Hour
	cfg.MaxOutboxBytes = -1 // node-ipc's drop behaviour, with an error
	c, _ := startClient(t, "tcp", addr, cfg, nil)
	if err := c.Emit("a", 1); !errors.Is(err, nodeipc.ErrNotConnected) {
		t.Fatalf("outbox off: got %v, want ErrNotConnected", err)
	}
	cfg2 := testConfig()
	cfg2.Retry = time.Hour
	cfg2.MaxOutboxBytes = 50
	c2, _ := startClient(t, "tcp", addr, cfg2, nil)
	if err := c2.Emit("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := c2.Emit("a", strings.Repeat("x", 40)); !errors.Is(err, nodeipc.ErrOutboxFull) {
		t.Fatalf("got %v, want ErrOutboxFull", err)
	}
}

func TestDisconnectRightAfterEmitStillDelivers(t *testing.T) {
	// node-ipc loses these (achrinza/node-ipc#53).
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			got := make(chan string, 1100)
			_, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("n", func(m *nodeipc.Message) { got <- string(m.Data) })
			})
			c, err := nodeipc.NewClient("x", network, addr, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			c.Connect()
			for i := range 1000 {
				if err := c.Emit("n", i); err != nil {
					t.Fatal(err)
				}
			}
			c.Disconnect()
			<-c.Done()
			for i := range 1000 {
				if v := recv(t, got, "flushed emit"); v != fmt.Sprint(i) {
					t.Fatalf("got %s, want %d", v, i)
				}
			}
			if err := c.Emit("n", 1); !errors.Is(err, nodeipc.ErrDestroyed) {
				t.Fatalf("emit after disconnect: %v", err)
			}
		})
	}
}

func TestDisconnectedClientThatNeverConnectsReportsUnsentFrames(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig()
	cfg.FlushTimeout = 100 * time.Millisecond
	errs := make(chan error, 8)
	c, err := nodeipc.NewClient("x", "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	c.Connect()
	_ = c.Emit("a", 1)
	_ = c.Emit("a", 2)
	c.Disconnect()
	<-c.Done()
	for {
		err := recv(t, errs, "unsent report")
		var ue *nodeipc.UnsentError
		if errors.As(err, &ue) {
			if ue.Frames != 2 {
				t.Fatalf("%d frames reported, want 2", ue.Frames)
			}
			return
		}
	}
}

func TestBurstOf10000ArrivesCompleteAndInOrder(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			const n = 10000
			done := make(chan error, 1)
			next := 0
			_, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("seq", func(m *nodeipc.Message) {
					var v struct{ I int }
					if err := m.Decode(&v); err != nil || v.I != next {
						done <- fmt.Errorf("got %s, want %d (%v)", m.Data, next, err)
						return
					}
					next++
					if next == n {
						done <- nil
					}
				})
			})
			c, connected := startClient(t, network, addr, nil, nil)
			recv(t, connected, "connect")
			for i := range n {
				if err := c.Emit("seq", map[string]int{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			if err := recv(t, done, "burst"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOneMebibytePayload(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			payload := strings.Repeat("é", 1<<19) // 1 MiB of UTF-8
			got := make(chan string, 1)
			_, addr := startServer(t, network, nil, func(s *nodeipc.Server) {
				s.On("big", func(m *nodeipc.Message) {
					var v string
					_ = m.Decode(&v)
					_ = s.Emit(m.Socket, "big", m.Data)
					got <- v
				})
			})
			back := make(chan string, 1)
			c, connected := startClient(t, network, addr, nil, func(c *nodeipc.Client) {
				c.On("big", func(m *nodeipc.Message) {
					var v string
					_ = m.Decode(&v)
					back <- v
				})
			})
			recv(t, connected, "connect")
			if err := c.Emit("big", payload); err != nil {
				t.Fatal(err)
			}
			if v := recv(t, got, "1 MiB at the server"); v != payload {
				t.Fatalf("server got %d bytes", len(v))
			}
			if v := recv(t, back, "1 MiB back"); v != payload {
				t.Fatalf("client got %d bytes", len(v))
			}
		})
	}
}

func TestBackpressureLimitIsAnErrorNotAStall(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPendingBytes = 64 << 10
	connected := make(chan *nodeipc.Socket, 1)
	srv, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { connected <- m.Socket })
	})
	raw := dialRaw(t, "tcp", addr) // never reads
	defer raw.Close()
	sock := recv(t, connected, "connect")
	payload := strings.Repeat("x", 4096)
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = srv.Emit(sock, "flood", payload)
	}
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeBackpressure {
		t.Fatalf("got %v, want %s", err, nodeipc.CodeBackpressure)
	}
}

func TestAPIMisuseReturnsErrors(t *testing.T) {
	ipc := newIPC(t)
	if err := ipc.ConnectTo("", "", nil); err == nil {
		t.Error("empty id accepted")
	}
	if err := ipc.ConnectToNet("x", "127.0.0.1", 70000, nil); err == nil {
		t.Error("port 70000 accepted")
	}
	if _, err := nodeipc.NewServer("tcp", "127.0.0.1:99999", testConfig()); err == nil {
		t.Error("server port 99999 accepted")
	}
	if _, err := nodeipc.NewServer("carrier-pigeon", "x", testConfig()); err == nil {
		t.Error("unknown network accepted")
	}
	if err := ipc.ServeNet("", 0, "udp5", nil); err == nil {
		t.Error("udp5 accepted")
	}
	srv, err := nodeipc.NewServer("tcp", "127.0.0.1:0", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Broadcast("a", 1); !errors.Is(err, nodeipc.ErrNotStarted) {
		t.Errorf("broadcast before start: %v", err)
	}
	if err := srv.Emit(nil, "a", 1); err == nil {
		t.Error("emit to nil socket accepted")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err == nil {
		t.Error("second Start accepted")
	}
	var sock *nodeipc.Socket
	got := make(chan *nodeipc.Socket, 1)
	srv.On("connect", func(m *nodeipc.Message) { got <- m.Socket })
	c, connected := startClient(t, "tcp", srv.Addr().String(), nil, nil)
	recv(t, connected, "connect")
	sock = recv(t, got, "server connect")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emit(sock, "a", 1); !errors.Is(err, net.ErrClosed) {
		t.Errorf("emit after stop: %v", err)
	}
	if err := srv.Broadcast("a", 1); !errors.Is(err, nodeipc.ErrClosed) {
		t.Errorf("broadcast after stop: %v", err)
	}
	if err := srv.Start(); !errors.Is(err, nodeipc.ErrStopped) {
		t.Errorf("start after stop: %v", err)
	}
	other, _ := nodeipc.NewServer("tcp", "127.0.0.1:0", testConfig())
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown(context.Background())
	if err := other.Emit(sock, "a", 1); !errors.Is(err, nodeipc.ErrUnknownSocket) {
		t.Errorf("emit to another server's socket: %v", err)
	}
	if err := c.Emit("", 1); err == nil {
		t.Error("empty event accepted")
	}
	if err := c.Emit("error", 1); err == nil {
		t.Error("reserved event accepted")
	}
	if err := c.Emit("*", 1); err == nil {
		t.Error("the wildcard name accepted as an event")
	}
}

func TestInstancesAreIndependent(t *testing.T) {
	a, b := newIPC(t), newIPC(t)
	a.Config.ID, b.Config.ID = "a", "b"
	if err := a.Serve("", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve("", nil); err != nil {
		t.Fatal(err)
	}
	if a.Server == b.Server || a.Server.Path() == b.Server.Path() {
		t.Fatal("instances share a server")
	}
	_ = a.ConnectTo("peer", "", nil)
	defer a.Disconnect("peer")
	if b.Of("peer") != nil {
		t.Fatal("instances share Of")
	}
}

func TestConnectToTwiceReusesALiveClient(t *testing.T) {
	ipc := newIPC(t)
	ipc.Config.Retry = time.Hour
	calls := 0
	if err := ipc.ConnectTo("x", "", func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	first := ipc.Of("x")
	if err := ipc.ConnectTo("x", "", func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	if ipc.Of("x") != first || calls != 2 {
		t.Fatalf("second ConnectTo replaced the client or skipped the callback (calls %d)", calls)
	}
	ipc.Disconnect("x")
	ipc.Disconnect("x") // unknown id: no-op
	if ipc.Of("x") != nil {
		t.Fatal("Disconnect left the client in Of")
	}
	<-first.Done()
}

func TestLogContract(t *testing.T) {
	ipc := nodeipc.New()
	var lines []string
	ipc.Config.Logger = func(s string) { lines = append(lines, s) }
	ipc.Config.LogInColor = false
	ipc.Config.LogDepth = 1
	ipc.Log("hello", 42, map[string]any{"a": map[string]any{"b": map[string]any{"c": 1}}}, []int{1, 2})
	if len(lines) != 1 {
		t.Fatalf("%d logger calls, want 1", len(lines))
	}
	if want := "hello 42 { a: { b: [Object] } } [ 1, 2 ]"; lines[0] != want {
		t.Fatalf("got %q, want %q", lines[0], want)
	}
	ipc.Config.Silent = true
	ipc.Log("quiet")
	if len(lines) != 1 {
		t.Fatal("Silent still logged")
	}
}

func TestMessageDecodeAndDataCopy(t *testing.T) {
	got := make(chan *nodeipc.Message, 8)
	_, addr := startServer(t, "tcp", nil, func(s *nodeipc.Server) {
		s.On("a", func(m *nodeipc.Message) {
			got <- m
			_ = append(m.Data, "overwrite"...) // must not reach the next message
		})
	})
	c, connected := startClient(t, "tcp", addr, nil, nil)
	recv(t, connected, "connect")
	// Short frames are slices of the read buffer, long ones are joined for
	// their message: a kept message stays as it was in both cases.
	sent := []string{`{"k":"first"}`, `{"k":"other"}`}
	for _, n := range []int{1000, 100 << 10, 300 << 10, 5} {
		sent = append(sent, `"`+strings.Repeat(string(rune('a'+n%26)), n)+`"`)
	}
	sent = append(sent, `{"k":"last"}`)
	for _, s := range sent {
		if err := c.Emit("a", json.RawMessage(s)); err != nil {
			t.Fatal(err)
		}
	}
	var kept []*nodeipc.Message
	for range sent {
		kept = append(kept, recv(t, got, "a message"))
	}
	for i, m := range kept {
		if string(m.Data) != sent[i] {
			t.Fatalf("kept message %d changed: %.40s, want %.40s", i, m.Data, sent[i])
		}
	}
	m1 := kept[0]
	var v struct{ K string }
	if err := m1.Decode(&v); err != nil || v.K != "first" {
		t.Fatal(v, err)
	}
}

func TestWildcardHandlerSeesEveryApplicationEvent(t *testing.T) {
	got := make(chan string, 4)
	_, addr := startServer(t, "tcp", nil, func(s *nodeipc.Server) {
		s.On(nodeipc.WildcardEvent, func(m *nodeipc.Message) { got <- m.Type })
	})
	c, connected := startClient(t, "tcp", addr, nil, nil)
	recv(t, connected, "connect")
	_ = c.Emit("one", nil)
	_ = c.Emit("two", nil)
	if a, b := recv(t, got, "one"), recv(t, got, "two"); a != "one" || b != "two" {
		t.Fatalf("got %s %s", a, b)
	}
}

// Close and Shutdown keep to their context even when a handler never
// returns: they close the connections, report the context's error, and the
// rest finishes in the background once the handler is released.
func TestCloseAndShutdownHonourContextWithStuckHandler(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	socks := make(chan *nodeipc.Socket, 1)
	srv, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
		s.On("stuck", func(*nodeipc.Message) { entered <- struct{}{}; <-release })
	})
	c, connected := startClient(t, "unix", addr, nil, func(c *nodeipc.Client) {
		c.On("stuck", func(*nodeipc.Message) { entered <- struct{}{}; <-release })
	})
	defer close(release)
	recv(t, connected, "connect")
	sock := recv(t, socks, "server connect")
	if err := c.Emit("stuck", nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emit(sock, "stuck", nil); err != nil {
		t.Fatal(err)
	}
	recv(t, entered, "a handler blocked")
	recv(t, entered, "both handlers blocked")

	for name, stop := range map[string]func(context.Context) error{
		"client Close":    c.Close,
		"server Shutdown": srv.Shutdown,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- stop(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s with a stuck handler: %v, want context.DeadlineExceeded", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return when its context ended", name)
		}
		cancel()
	}
}

// When one read carries several frames, what the handlers emit is written
// together once they are done; a handler that blocks does not hold back, for
// more than a moment, what it emitted before blocking or what other
// goroutines emit to its connection meanwhile.
func TestBlockedHandlerInABatchDoesNotHoldEmits(t *testing.T) {
	release := make(chan struct{})
	socks := make(chan *nodeipc.Socket, 1)
	srv, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
		s.On("first", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "answer", 1) })
		s.On("stuck", func(*nodeipc.Message) { <-release })
	})
	peer, err := dialLocalForTest(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	defer close(release)
	sock := recv(t, socks, "connect")
	// Three frames in one write: the server reads them together.
	if _, err := peer.Write([]byte(`{"type":"first","data":0}` + "\f" + `{"type":"stuck","data":0}` + "\f" + `{"type":"later","data":0}` + "\f")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the handler of "stuck" is blocked by now
	if err := srv.Emit(sock, "meanwhile", 2); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	want := `{"type":"answer","data":1}` + "\f" + `{"type":"meanwhile","data":2}` + "\f"
	got := make([]byte, 0, len(want))
	buf := make([]byte, 256)
	for len(got) < len(want) {
		n, err := peer.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read %q, then: %v (emits held behind a blocked handler)", got, err)
		}
	}
	if string(got) != want {
		t.Fatalf("peer got %q, want %q", got, want)
	}
}
