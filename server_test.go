package nodeipc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

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
	admitted := make(chan struct{}, 2)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { refused <- m.Err })
		s.On("connect", func(*nodeipc.Message) { admitted <- struct{}{} })
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
	recv(t, admitted, "the server's first connect")
	recv(t, admitted, "the server's second connect")
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
	blocked := make(chan struct{}, 1)
	socks := make(chan *nodeipc.Socket, 1)
	srv, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
		s.On("first", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "answer", 1) })
		s.On("stuck", func(*nodeipc.Message) { blocked <- struct{}{}; <-release })
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
	recv(t, blocked, `the handler of "stuck" to block`)
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
