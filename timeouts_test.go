package nodeipc_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// 100 connections that send nothing hold every MaxConnections slot until
// the first-message timeout closes them; then a real client is served.
func TestSilentPeersCannotHoldEverySlot(t *testing.T) {
	for _, parser := range []string{nodeipc.ParserFast, nodeipc.ParserGuarded} {
		for _, network := range transports {
			t.Run(parser+"/"+network, func(t *testing.T) {
				cfg := testConfig()
				cfg.Parser = parser
				cfg.MaxConnections = 100
				cfg.FirstMessageTimeout = 300 * time.Millisecond
				cfg.FlushTimeout = 100 * time.Millisecond
				var mu sync.Mutex
				timedOut := 0
				_, addr := startServer(t, network, cfg, func(s *nodeipc.Server) {
					s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
					s.On("error", func(m *nodeipc.Message) {
						var pe *nodeipc.ProtocolError
						if errors.As(m.Err, &pe) && pe.Code == nodeipc.CodeIdleTimeout {
							mu.Lock()
							timedOut++
							mu.Unlock()
						}
					})
				})
				silent := make([]net.Conn, 0, 100)
				for range 100 {
					silent = append(silent, dialRaw(t, network, addr))
				}
				// Each silent connection learns it was closed.
				var wg sync.WaitGroup
				for _, c := range silent {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
						_, _ = io.Copy(io.Discard, c)
						c.Close()
					}()
				}
				// While the server is full it closes each new connection at
				// once (the client sees connect, then a disconnect): the
				// client asks on every connect until it is answered.
				pongs := make(chan string, 1)
				ccfg := testConfig()
				ccfg.Retry = 50 * time.Millisecond
				startClient(t, network, addr, ccfg, func(c *nodeipc.Client) {
					c.On("connect", func(*nodeipc.Message) { _ = c.Emit("ping", "real") })
					c.On("pong", func(m *nodeipc.Message) {
						select {
						case pongs <- string(m.Data):
						default:
						}
					})
				})
				if got := recv(t, pongs, "the real client to be served"); got != `"real"` {
					t.Fatalf("pong %s", got)
				}
				wg.Wait()
				n := 0
				for deadline := time.Now().Add(10 * time.Second); n < 100 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					mu.Lock()
					n = timedOut
					mu.Unlock()
				}
				if n != 100 {
					t.Fatalf("%d ERR_IPC_IDLE_TIMEOUT errors for 100 silent connections", n)
				}
			})
		}
	}
}

// A connection that sends nothing for IdleTimeout after its first message
// is closed with ERR_IPC_IDLE_TIMEOUT; one that keeps talking is not.
func TestIdleTimeoutClosesOnlyIdleConnections(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	errs := make(chan error, 4)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
		s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
	})
	idle := dialRaw(t, "tcp", addr)
	if _, err := io.WriteString(idle, "{\"type\":\"ping\",\"data\":1}\f"); err != nil {
		t.Fatal(err)
	}
	pongs := make(chan struct{}, 64)
	busy, connected := startClient(t, "tcp", addr, nil, func(c *nodeipc.Client) {
		c.On("pong", func(*nodeipc.Message) { pongs <- struct{}{} })
	})
	recv(t, connected, "connect")
	closed := make(chan error, 1)
	go func() {
		_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, idle)
		idle.Close() // as a well-behaved peer does when the server closes
		closed <- err
	}()
	// The busy client talks every 50 ms until the idle one is gone.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			if err := busy.Emit("ping", i); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-pongs:
			case <-stop:
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-stop:
				return
			}
		}
	}()
	if err := recv(t, closed, "the idle connection to be closed"); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	var pe *nodeipc.ProtocolError
	if err := recv(t, errs, "the idle timeout error"); !errors.As(err, &pe) || pe.Code != nodeipc.CodeIdleTimeout {
		t.Fatalf("error %v, want %s", err, nodeipc.CodeIdleTimeout)
	}
	connectedStill := busy.Connected()
	close(stop)
	<-stopped
	if !connectedStill {
		t.Fatal("the busy client was disconnected")
	}
	select {
	case err := <-errs:
		t.Fatalf("unexpected error: %v", err)
	default:
	}
}

// The guarded and assured profiles close silent peers by default; fast and
// raw, like node-ipc, do not (a client may connect only to listen).
func TestSilentPeerDefaultsByProfile(t *testing.T) {
	for _, c := range []struct {
		parser      string
		idle, first time.Duration
	}{
		{nodeipc.ParserFast, 0, 0},
		{nodeipc.ParserRaw, 0, 0},
		{nodeipc.ParserGuarded, nodeipc.DefaultIdleTimeout, nodeipc.DefaultFirstMessageTimeout},
		{nodeipc.ParserAssured, nodeipc.DefaultIdleTimeout, nodeipc.DefaultFirstMessageTimeout},
	} {
		cfg := nodeipc.DefaultConfig()
		cfg.Parser = c.parser
		cfg.AllowedEvents = []string{"a"}
		idle, first := nodeipc.SilentPeerTimeouts(&cfg)
		if idle != c.idle || first != c.first {
			t.Errorf("%s: idle %v, first message %v; want %v, %v", c.parser, idle, first, c.idle, c.first)
		}
		cfg.IdleTimeout, cfg.FirstMessageTimeout = -1, -1
		if idle, first := nodeipc.SilentPeerTimeouts(&cfg); idle != 0 || first != 0 {
			t.Errorf("%s: negative settings give %v, %v; want both off", c.parser, idle, first)
		}
	}
}
