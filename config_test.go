package nodeipc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// A zero Config works: every number, duration and string takes its
// default, so a server and a client built from Config literals that set
// only what they change talk to each other.
func TestZeroConfigMeansTheDefaults(t *testing.T) {
	path := tempRoot(t) + "zero.sock"
	srv, err := nodeipc.NewServer("unix", path, &nodeipc.Config{Silent: true})
	if err != nil {
		t.Fatalf("a zero Config refused: %v", err)
	}
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", m.Data) })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	pongs := make(chan string, 1)
	c, err := nodeipc.NewClient("zero", "unix", path, &nodeipc.Config{Silent: true, MaxRetries: nodeipc.RetryForever})
	if err != nil {
		t.Fatalf("a zero Config refused: %v", err)
	}
	c.On("pong", func(m *nodeipc.Message) { pongs <- string(m.Data) })
	c.Connect()
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.Emit("ping", "zero"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, pongs, "pong"); got != `"zero"` {
		t.Fatalf("got %s", got)
	}
}

// A negative value turns a limit or a timer off; 0 keeps the default.
func TestNegativeSettingsTurnOff(t *testing.T) {
	cfg := nodeipc.Config{Silent: true, Retry: time.Hour, MaxOutboxBytes: -1}
	c, err := nodeipc.NewClient("off", "tcp", "127.0.0.1:1", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	if err := c.Emit("a", 1); !errors.Is(err, nodeipc.ErrNotConnected) {
		t.Fatalf("MaxOutboxBytes -1: got %v, want ErrNotConnected (node-ipc's drop)", err)
	}
	cfg.MaxOutboxBytes = 0
	c2, err := nodeipc.NewClient("default", "tcp", "127.0.0.1:1", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Disconnect()
	if err := c2.Emit("a", 1); err != nil {
		t.Fatalf("MaxOutboxBytes 0 (the default outbox): %v", err)
	}
}
