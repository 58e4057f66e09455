package nodeipc_test

import (
	"bufio"
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

func ackConfig() *nodeipc.Config {
	c := testConfig()
	c.Acks = true
	return c
}

// Messages both ways are delivered once, in order, with their session and
// sequence; Flush returns once the server acknowledged everything.
func TestAcksDeliverBothWaysAndFlushWaitsForTheAcks(t *testing.T) {
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			var up, down inOrder
			var mu sync.Mutex
			var seqs []uint64
			sessions := map[string]bool{}
			socks := make(chan *nodeipc.Socket, 4)
			srv, addr := startServer(t, network, ackConfig(), func(s *nodeipc.Server) {
				s.On("up", func(m *nodeipc.Message) {
					mu.Lock()
					seqs = append(seqs, m.Seq)
					sessions[m.Session] = true
					mu.Unlock()
					up.add(m)
				})
				s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
			})
			c, connected := startClient(t, network, addr, ackConfig(), func(c *nodeipc.Client) { c.On("down", down.add) })
			recv(t, connected, "connect")
			sock := recv(t, socks, "the server's connect")
			// The hello is answered soon after connect.
			waitUntil(t, "the server's socket to have the client's session", func() bool { return sock.Session() == c.Session() })
			const n = 5000
			for i := range n {
				if err := c.Emit("up", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, err := up.count(); got != n || err != nil {
				t.Fatalf("after Flush the server has %d of %d (%v)", got, n, err)
			}
			mu.Lock()
			if len(sessions) != 1 || !sessions[c.Session()] || seqs[0] != 1 || seqs[n-1] != n {
				t.Fatalf("sessions %v (client %s), seqs %d..%d", sessions, c.Session(), seqs[0], seqs[n-1])
			}
			mu.Unlock()
			for i := range n {
				if err := srv.Emit(sock, "down", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if got, _ := down.count(); got == n {
					break
				}
			}
			if got, err := down.count(); got != n || err != nil {
				t.Fatalf("the client has %d of %d (%v)", got, n, err)
			}
		})
	}
}

// The server's messages to a client session survive that client's
// connection being cut: what was not acknowledged goes out again on the
// next one, and the client delivers each message once.
func TestAcksServerToClientAcrossAReconnect(t *testing.T) {
	var down inOrder
	socks := make(chan *nodeipc.Socket, 4)
	srv, addr := startServer(t, "tcp", ackConfig(), func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	})
	hold := make(chan struct{})
	var once sync.Once
	c, connected := startClient(t, "tcp", addr, ackConfig(), func(c *nodeipc.Client) {
		c.On("down", func(m *nodeipc.Message) {
			down.add(m)
			if n, _ := down.count(); n == 100 {
				once.Do(func() { <-hold }) // the rest waits, unacknowledged
			}
		})
	})
	recv(t, connected, "connect")
	first := recv(t, socks, "the server's connect")
	const n = 1000
	for i := range n {
		if err := srv.Emit(first, "down", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	// The emits came before the client's hello: they wait for it and join
	// its session's stream.
	waitUntil(t, "the client's session", func() bool { return first.Session() != "" })
	first.Abort() // cut the connection with messages in flight
	close(hold)
	recv(t, connected, "reconnect")
	second := recv(t, socks, "the server's second connect")
	if second == first {
		t.Fatal("same socket")
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if got, _ := down.count(); got == n {
			break
		}
	}
	if got, err := down.count(); got != n || err != nil {
		t.Fatalf("the client delivered %d of %d (%v)", got, n, err)
	}
	_ = c
}

// A server with Acks holds what it emits to a new connection until the
// client's first frame: a client with Acks gets those emits as numbered
// messages of its session (its hello comes first); a plain client gets them
// as plain frames as soon as it sends anything else, or after AckTimeout if
// it sends nothing; a connection that ends first has them reported unsent.
func TestAcksServerEmitsFromConnectWaitForTheFirstFrame(t *testing.T) {
	// start starts a server with Acks that emits three events from its
	// connect handler, and reports the frames it says were never sent.
	start := func(ackTimeout time.Duration) (string, <-chan int) {
		cfg := ackConfig()
		cfg.AckTimeout = ackTimeout
		unsent := make(chan int, 4)
		_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
			s.On("connect", func(m *nodeipc.Message) {
				for i := range 3 {
					if err := s.Emit(m.Socket, "early", map[string]int{"n": i}); err != nil {
						t.Errorf("emit %d: %v", i, err)
					}
				}
			})
			s.On("error", func(m *nodeipc.Message) {
				var ue *nodeipc.UnsentError
				if errors.As(m.Err, &ue) {
					unsent <- ue.Frames
				}
			})
		})
		return addr, unsent
	}
	readPlain := func(t *testing.T, conn net.Conn) {
		t.Helper()
		r := bufio.NewReader(conn)
		for i := range 3 {
			line, err := r.ReadString('\f')
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"type":"early","data":{"n":%d}}`+"\f", i); line != want {
				t.Fatalf("got %q, want the plain frame %q", line, want)
			}
		}
	}
	// Here only a first frame can release what is held.
	addr, unsent := start(time.Hour)

	t.Run("a client with acks", func(t *testing.T) {
		got := make(chan *nodeipc.Message, 3)
		_, connected := startClient(t, "tcp", addr, ackConfig(), func(c *nodeipc.Client) {
			c.On("early", func(m *nodeipc.Message) { got <- m })
		})
		recv(t, connected, "connect")
		for i := range 3 {
			m := recv(t, got, "an early emit")
			if m.Seq != uint64(i+1) || m.Session == "" {
				t.Fatalf("early emit %d arrived as seq %d of session %q, want a numbered message", i, m.Seq, m.Session)
			}
		}
	})

	t.Run("a plain client that sends first", func(t *testing.T) {
		conn := dialRaw(t, "tcp", addr)
		if _, err := conn.Write([]byte(`{"type":"hi","data":{}}` + "\f")); err != nil {
			t.Fatal(err)
		}
		readPlain(t, conn)
	})

	t.Run("a connection that ends first", func(t *testing.T) {
		conn := dialRaw(t, "tcp", addr)
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read %d bytes (%v) before the client sent anything", n, err)
		}
		conn.Close()
		if n := recv(t, unsent, "the unsent report"); n != 3 {
			t.Fatalf("%d reported unsent, want 3", n)
		}
	})

	t.Run("a plain client that only listens", func(t *testing.T) {
		const wait = 300 * time.Millisecond
		addr, _ := start(wait)
		// The server's clock starts when it accepts, which may be before
		// the dial returns here, so this one starts before the dial.
		began := time.Now()
		conn := dialRaw(t, "tcp", addr)
		readPlain(t, conn)
		if waited := time.Since(began); waited < wait {
			t.Fatalf("the frames came after %v, before AckTimeout (%v) without a first frame", waited, wait)
		}
	})
}

// A client with acknowledgements refuses a server that does not
// acknowledge: at once against a nodeipc server with Acks off, after
// AckTimeout against one that does not answer the hello (a plain node-ipc
// server); it gives up and reports what it could not send. Never a hang.
func TestAcksRefusedByAServerThatDoesNotAcknowledge(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	_, plain := startServer(t, "tcp", nil, nil)
	for _, tc := range []struct{ name, addr string }{{"acks off", plain}, {"no answer", silent}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ackConfig()
			cfg.AckTimeout = 200 * time.Millisecond
			events := make(chan string, 8)
			c, err := nodeipc.NewClient("c", "tcp", tc.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.On("error", func(m *nodeipc.Message) {
				var pe *nodeipc.ProtocolError
				var ue *nodeipc.UnsentError
				switch {
				case errors.As(m.Err, &pe):
					events <- string(pe.Code)
				case errors.As(m.Err, &ue):
					events <- fmt.Sprintf("unsent %d", ue.Frames)
				}
			})
			c.On("destroy", func(*nodeipc.Message) { events <- "destroy" })
			if err := c.Emit("job", 1); err != nil {
				t.Fatal(err)
			}
			c.Connect()
			for _, want := range []string{string(nodeipc.CodeAcksUnsupported), "unsent 1", "destroy"} {
				if got := recv(t, events, want); got != want {
					t.Fatalf("got %s, want %s", got, want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := c.Flush(ctx); !errors.Is(err, nodeipc.ErrDestroyed) && err != nil {
				t.Fatalf("flush after the refusal: %v", err)
			}
		})
	}
}

// When the bound of unacknowledged bytes is reached, Emit says so.
func TestAcksWindowIsBounded(t *testing.T) {
	// A server that answers the hello and never acknowledges.
	addr := rawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\f'); err != nil {
			return
		}
		_, _ = io.WriteString(c, `{"type":"nodeipc.hello","data":{"v":1,"acks":true,"session":"s1","delivered":0}}`+"\f")
		_, _ = io.Copy(io.Discard, r)
	})
	cfg := ackConfig()
	cfg.MaxOutboxBytes = 4096
	c, connected := startClient(t, "tcp", addr, cfg, nil)
	recv(t, connected, "connect")
	accepted := 0
	var err error
	for range 1000 {
		if err = c.Emit("job", strings.Repeat("x", 100)); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, nodeipc.ErrOutboxFull) || accepted == 0 || accepted > 4096/100 {
		t.Fatalf("accepted %d, then %v", accepted, err)
	}
}

func TestAcksSettingsThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		tweak   func(*nodeipc.Config)
	}{
		{"raw", "tcp", func(c *nodeipc.Config) { c.RawBuffer = true }},
		{"sync", "tcp", func(c *nodeipc.Config) { c.Sync = true }},
		{"no outbox", "tcp", func(c *nodeipc.Config) { c.MaxOutboxBytes = -1 }},
	} {
		cfg := ackConfig()
		tc.tweak(cfg)
		if _, err := nodeipc.NewClient("c", tc.network, "127.0.0.1:1", cfg); err == nil {
			t.Errorf("%s: a client accepted", tc.name)
		}
	}
	if _, err := nodeipc.NewServer("udp4", "127.0.0.1:0", ackConfig()); err == nil {
		t.Error("a UDP server with Acks accepted")
	}
	// An acknowledged message cannot carry an extension's name.
	c, err := nodeipc.NewClient("c", "tcp", "127.0.0.1:1", ackConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Emit("nodeipc.request", 1); err == nil {
		t.Error("an extension name accepted as an acknowledged message's event")
	}
	c.Disconnect()
}
