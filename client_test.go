package nodeipc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

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
				// A window in which a reconnection, or any event after
				// the last one expected, would show.
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
