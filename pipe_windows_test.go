//go:build windows

package nodeipc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// An explicit \\.\pipe\ path is taken as is by the server and the client
// (node-ipc's server mangles it), and a node-ipc style path maps to the same
// pipe on both sides.
func TestPipePathsOnBothSides(t *testing.T) {
	for _, path := range []string{
		fmt.Sprintf(`\\.\pipe\nodeipc-explicit-%d`, os.Getpid()),
		fmt.Sprintf("/tmp/app.nodeipc-mapped-%d", os.Getpid()),
	} {
		ipc := newIPC(t)
		got := make(chan string, 1)
		if err := ipc.Serve(path, func() {
			ipc.Server.On("hello", func(m *nodeipc.Message) { got <- string(m.Data) })
		}); err != nil {
			t.Fatal(err)
		}
		if err := ipc.Server.Start(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cl := newIPC(t)
		if err := cl.ConnectTo("s", path, func() {
			c := cl.Of("s")
			c.On("connect", func(*nodeipc.Message) { _ = c.Emit("hello", path) })
		}); err != nil {
			t.Fatal(err)
		}
		if d := recv(t, got, "hello over "+path); !strings.Contains(d, "nodeipc-") {
			t.Fatalf("got %s", d)
		}
		_ = cl.Of("s").Close(context.Background())
		_ = ipc.Server.Shutdown(context.Background())
	}
}

func TestPipeThatDoesNotExist(t *testing.T) {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.MaxRetries = 0
	cfg.Retry = 10 * time.Millisecond
	c, err := nodeipc.NewClient("c", "unix", `\\.\pipe\nodeipc-nobody-here`, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	destroyed := make(chan struct{})
	c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	c.On("destroy", func(*nodeipc.Message) { close(destroyed) })
	c.Connect()
	if err := recv(t, errs, "error"); !strings.Contains(err.Error(), "nodeipc-nobody-here") {
		t.Fatalf("the error should name the pipe: %v", err)
	}
	recv(t, destroyed, "destroy")
	_ = c.Close(context.Background())
}
