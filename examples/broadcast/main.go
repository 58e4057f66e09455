// Command broadcast is the Go twin of node-ipc's Multi-Client-Broadcast
// examples (local, TCP and TLS): two clients, "hello" and "goodbye", each
// send an "app.message" to the "world" server, which answers each one; once
// it has heard from both, the server broadcasts "kill.connection" and both
// clients disconnect.
//
//	go run ./examples/broadcast                       # all three in one process
//	go run ./examples/broadcast -role server          # terminal 1: world-server.js
//	go run ./examples/broadcast -role hello           # terminal 2: hello-client.js
//	go run ./examples/broadcast -role goodbye         # terminal 3: goodbye-client.js
//	go run ./examples/broadcast -transport tcp        # over TCP (or tls)
//
// It exits 0 once the clients got the broadcast, 1 if they did not.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

// message is the data of an "app.message" event.
type message struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func main() {
	role := flag.String("role", "both", `"server" (world-server.js), "hello" or "goodbye" (the clients), or "both": all three in one process`)
	ep := endpoint.Flags()
	clients := flag.Int("clients", 0, "server: exit after this many clients have come and gone (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the broadcast has not come within this time")
	flag.Parse()

	ep.Main("broadcast", *role, []string{"server", "hello", "goodbye", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, ep, *clients)
		case "hello", "goodbye":
			return runClient(ctx, *role, ep, *timeout)
		}
		return runAll(ctx, ep, *timeout)
	})
}

// startWorld is world-server.js: answer each app.message, and broadcast
// kill.connection once both hello and goodbye have spoken.
func startWorld(ep *endpoint.Endpoint, clients int) (*endpoint.Server, error) {
	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	if err := ep.Serve(ipc); err != nil { // ipc.Serve, or ipc.ServeNet for TCP and TLS
		return nil, err
	}

	// Handlers of different connections run concurrently, so the state
	// they share is locked.
	var mu sync.Mutex
	heard := map[string]bool{"hello": false, "goodbye": false}

	ipc.Server.On("app.message", func(m *nodeipc.Message) {
		var msg message
		if err := m.Decode(&msg); err != nil {
			fmt.Fprintln(os.Stderr, "world: bad app.message:", err)
			return
		}
		fmt.Println("world: got a message from", msg.ID+":", msg.Message)
		if err := ipc.Server.Emit(m.Socket, "app.message", message{ID: ipc.Config.ID, Message: msg.Message + " world!"}); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}

		mu.Lock()
		heard[msg.ID] = true
		all := heard["hello"] && heard["goodbye"]
		mu.Unlock()
		if all {
			fmt.Println("world: got all required events, telling clients to kill connection")
			// One frame, encoded once, written to every connected client.
			if err := ipc.Server.Broadcast("kill.connection", map[string]string{"id": ipc.Config.ID}); err != nil {
				fmt.Fprintln(os.Stderr, "world:", err)
			}
		}
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
	world.ServeUntil(ctx)
	return nil
}

// runClient is hello-client.js or goodbye-client.js: say who we are, print
// the answer, and disconnect when world says so.
func runClient(ctx context.Context, id string, ep *endpoint.Endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := nodeipc.New()
	ipc.Config.ID = id
	ipc.Config.Retry = 500 * time.Millisecond
	ipc.Config.MaxRetries = 10 // as goodbye-client.js

	killed := make(chan struct{})
	var once sync.Once
	err := ep.ConnectTo(ipc, "world", func() { // ipc.ConnectTo, or ipc.ConnectToNet for TCP and TLS
		world := ipc.Of("world")
		world.On("connect", func(*nodeipc.Message) {
			fmt.Println(id + ": connected to world")
			if err := world.Emit("app.message", message{ID: id, Message: id}); err != nil {
				fmt.Fprintln(os.Stderr, id+":", err)
			}
		})
		world.On("app.message", func(m *nodeipc.Message) {
			var msg message
			_ = m.Decode(&msg)
			fmt.Println(id+": got a message from world:", msg.Message)
		})
		world.On("kill.connection", func(*nodeipc.Message) {
			fmt.Println(id + ": world requested kill.connection")
			ipc.Disconnect("world") // safe from a handler: it does not wait
			once.Do(func() { close(killed) })
		})
	})
	if err != nil {
		return err
	}
	world := ipc.Of("world")
	select {
	case <-killed:
		<-world.Done() // the disconnect has finished
		return nil
	case <-ctx.Done():
		ipc.Disconnect("world")
		<-world.Done()
		return fmt.Errorf("%s: no kill.connection from world: %w", id, context.Cause(ctx))
	}
}

// runAll runs world, hello and goodbye in this process, the clients side by
// side.
func runAll(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	world, err := startWorld(ep, 2)
	if err != nil {
		return err
	}
	return world.RunClients(timeout, "both clients",
		func() error { return runClient(ctx, "hello", ep, timeout) },
		func() error { return runClient(ctx, "goodbye", ep, timeout) })
}
