package nodeipc_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// A client's status goes connecting, connected, reconnecting, connected
// again, closing, closed, each change told in order; one that never
// connects goes from connecting straight to closed when it gives up.
func TestClientStatusIsObservableAndNotified(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	watch := func(s nodeipc.Status) { mu.Lock(); seen = append(seen, s.String()); mu.Unlock() }
	history := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(seen, " ") }

	srv, addr := startServer(t, "tcp", nil, nil)
	socks := make(chan *nodeipc.Socket, 4)
	srv.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	c, err := nodeipc.NewClient("c", "tcp", addr, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.OnStatus(watch)
	if c.Status() != nodeipc.StatusConnecting {
		t.Fatalf("a new client is %s", c.Status())
	}
	connected := make(chan struct{}, 4)
	c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
	c.Connect()
	recv(t, connected, "connect")
	recv(t, socks, "the server's connect").Abort()
	recv(t, connected, "reconnect")
	if c.Status() != nodeipc.StatusConnected {
		t.Fatalf("status %s after reconnecting", c.Status())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := history(), "connected reconnecting connected closing closed"; got != want {
		t.Fatalf("statuses %q, want %q", got, want)
	}

	mu.Lock()
	seen = nil
	mu.Unlock()
	cfg := testConfig()
	cfg.MaxRetries = 1
	gone, err := nodeipc.NewClient("g", "tcp", "127.0.0.1:1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	gone.OnStatus(watch)
	gone.Connect()
	recv(t, gone.Done(), "the client to give up")
	if got := history(); got != "closed" || gone.Status() != nodeipc.StatusClosed || !gone.Destroyed() {
		t.Fatalf("statuses %q, now %s", got, gone.Status())
	}
}
