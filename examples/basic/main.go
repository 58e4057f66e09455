// Command basic is the Go twin of node-ipc's basic examples (local, TCP and
// TLS) and of the server and client in node-ipc's README: a server with the
// id "world" answers every "message" with the text it got plus " world!",
// and a client named "hello" sends "hello" once connected and prints the
// answer.
//
//	go run ./examples/basic                            # both sides in one process
//	go run ./examples/basic -role server               # terminal 1: world-server.js
//	go run ./examples/basic -role client               # terminal 2: hello-client.js
//	go run ./examples/basic -transport tcp             # over TCP, 127.0.0.1:8000
//	go run ./examples/basic -transport tls -mutual     # over mutual TLS
//
// The transport is a local socket by default: a Unix socket on Linux and
// macOS, a named pipe on Windows (the library picks). With -role, both sides
// use node-ipc's default path for the id "world" or port 8000, so either
// side can also be node-ipc's own script. It exits 0 once the exchange
// happened, 1 if it did not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

func main() {
	role := flag.String("role", "both", `"server" (world-server.js), "client" (hello-client.js), or "both" in one process`)
	ep := endpoint.Flags()
	clients := flag.Int("clients", 0, "server: exit after this many clients have come and gone (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the answer has not come within this time")
	flag.Parse()

	// Ctrl-C ends a server (and anything else) cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	err := run(*role, ep, func() error {
		switch *role {
		case "server":
			return runServer(ctx, ep, *clients)
		case "client":
			return runClient(ctx, ep, *timeout)
		}
		return runBoth(ctx, ep, *timeout)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

// run checks the role, sets the endpoint up for it, and runs f.
func run(role string, ep *endpoint.Endpoint, f func() error) error {
	if role != "server" && role != "client" && role != "both" {
		return fmt.Errorf("unknown -role %q: want server, client or both", role)
	}
	cleanup, err := ep.Setup(role)
	if err != nil {
		return err
	}
	defer cleanup()
	return f()
}

// startWorld is world-server.js. It returns the instance whose Server runs,
// and a channel closed once `clients` clients have left (never for 0).
func startWorld(ep *endpoint.Endpoint, clients int) (*nodeipc.IPC, <-chan struct{}, error) {
	ipc := nodeipc.New() // node-ipc's `new IPC()`, with node-ipc 14's defaults
	ipc.Config.ID = "world"

	// ipc.Serve (local) or ipc.ServeNet (TCP, TLS): it only configures
	// ipc.Server; Start binds.
	if err := ep.Serve(ipc); err != nil {
		return nil, nil, err
	}

	// node-ipc's handler gets (data, socket); here both are in the Message.
	ipc.Server.On("message", func(m *nodeipc.Message) {
		var text string
		if err := m.Decode(&text); err != nil {
			fmt.Fprintln(os.Stderr, "world: not a string:", err)
			return
		}
		fmt.Println("world: got a message:", text)
		if err := ipc.Server.Emit(m.Socket, "message", text+" world!"); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}
	})
	// A refused TLS handshake, for one, is an error event.
	ipc.Server.On("error", func(m *nodeipc.Message) {
		fmt.Println("world: error:", m.Err)
	})

	allGone := make(chan struct{})
	var gone atomic.Int64
	ipc.Server.On("socket.disconnected", func(m *nodeipc.Message) {
		fmt.Println("world: a client disconnected")
		if gone.Add(1) == int64(clients) {
			close(allGone)
		}
	})

	if err := ipc.Server.Start(); err != nil {
		return nil, nil, err
	}
	fmt.Println("world: listening on", ep.Listening(ipc.Server))
	return ipc, allGone, nil
}

// runServer serves until interrupted, or until enough clients have left.
func runServer(ctx context.Context, ep *endpoint.Endpoint, clients int) error {
	ipc, allGone, err := startWorld(ep, clients)
	if err != nil {
		return err
	}
	// Shutdown stops accepting, flushes, closes every connection and waits
	// for the handlers still running.
	defer ipc.Server.Shutdown(context.Background())
	select {
	case <-allGone:
	case <-ctx.Done():
	}
	return nil
}

// runClient is hello-client.js: connect to world, say hello, print the
// answer, disconnect.
func runClient(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := nodeipc.New()
	ipc.Config.ID = "hello"
	ipc.Config.Retry = 500 * time.Millisecond // node-ipc's examples wait 1.5 s

	answered := make(chan struct{})
	var once atomic.Bool
	// ipc.ConnectTo (local) or ipc.ConnectToNet (TCP, TLS). The callback
	// runs before the first connection attempt, so every handler is in
	// place before any event can fire; ipc.Of("world") is node-ipc's
	// ipc.of.world.
	err := ep.ConnectTo(ipc, "world", func() {
		world := ipc.Of("world")
		world.On("connect", func(*nodeipc.Message) {
			// Over TLS, connect comes after the handshake: the server's
			// certificate has been verified.
			fmt.Println("hello: connected to world")
			if err := world.Emit("message", "hello"); err != nil {
				fmt.Fprintln(os.Stderr, "hello:", err)
			}
		})
		world.On("error", func(m *nodeipc.Message) {
			fmt.Println("hello: error, retrying:", m.Err)
		})
		// The connection dropped (not after our own Disconnect): the
		// client retries every Config.Retry.
		world.On("disconnect", func(*nodeipc.Message) {
			fmt.Println("hello: disconnected from world")
		})
		world.On("message", func(m *nodeipc.Message) {
			var text string
			_ = m.Decode(&text)
			fmt.Println("hello: got a message from world:", text)
			if once.CompareAndSwap(false, true) {
				close(answered)
			}
		})
	})
	if err != nil {
		return err
	}

	world := ipc.Of("world")
	defer func() {
		// Disconnect writes what Emit accepted, then closes; Done is
		// closed when the client has finished.
		ipc.Disconnect("world")
		<-world.Done()
	}()
	select {
	case <-answered:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no answer from world: %w", context.Cause(ctx))
	}
}

// runBoth runs world and hello in this process.
func runBoth(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	ipc, allGone, err := startWorld(ep, 1)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())

	if err := runClient(ctx, ep, timeout); err != nil {
		return err
	}
	// Wait until world has seen hello go.
	select {
	case <-allGone:
		return nil
	case <-time.After(timeout):
		return errors.New("world did not see hello disconnect")
	}
}
