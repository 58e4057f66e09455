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
	"flag"
	"fmt"
	"os"
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

	// Main sets the endpoint up and exits 1 on an error. Ctrl-C cancels ctx:
	// it ends a server (and anything else) cleanly.
	ep.Main("basic", *role, []string{"server", "client", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, ep, *clients)
		case "client":
			return runClient(ctx, ep, *timeout)
		}
		return runBoth(ctx, ep, *timeout)
	})
}

// startWorld is world-server.js. The server it returns is done once
// `clients` clients have left (never for 0).
func startWorld(ep *endpoint.Endpoint, clients int) (*endpoint.Server, error) {
	ipc := nodeipc.New() // node-ipc's `new IPC()`, with node-ipc 14's defaults
	ipc.Config.ID = "world"

	// ipc.Serve (local) or ipc.ServeNet (TCP, TLS): it only configures
	// ipc.Server; Start binds.
	if err := ep.Serve(ipc); err != nil {
		return nil, err
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

	// Start binds, prints where, and counts the clients that disconnect.
	return ep.Start(ipc, clients)
}

// runServer serves until interrupted, or until enough clients have left.
func runServer(ctx context.Context, ep *endpoint.Endpoint, clients int) error {
	world, err := startWorld(ep, clients)
	if err != nil {
		return err
	}
	// Then it shuts down: Shutdown stops accepting, flushes, closes every
	// connection and waits for the handlers still running.
	world.ServeUntil(ctx)
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

// runBoth runs world and hello in this process, and waits until world has
// seen hello go.
func runBoth(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	world, err := startWorld(ep, 1)
	if err != nil {
		return err
	}
	return world.RunClients(timeout, "hello", func() error { return runClient(ctx, ep, timeout) })
}
