// Command raw-buffer is the Go twin of node-ipc's rawBuffer examples (local,
// TCP and TLS) and of the raw buffer part of node-ipc's README: with
// Config.RawBuffer there is no JSON and no delimiter, only bytes. The "world"
// server sends "hello" as soon as a client connects; the "hello" client
// sends "hello" as soon as it is connected; the server answers with
// "goodbye" and then a byte array (node-ipc's emit(socket, [10, 20, 30])).
//
//	go run ./examples/raw-buffer                      # both sides in one process
//	go run ./examples/raw-buffer -role server         # terminal 1: world.server.js
//	go run ./examples/raw-buffer -role client         # terminal 2: hello-client.js
//	go run ./examples/raw-buffer -transport tcp       # over TCP (or tls)
//
// Received bytes arrive as "data" events, one per read: a raw stream has no
// message boundaries, so a reader collects bytes until it has what it
// expects. It exits 0 once both sides got every byte they expected.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

// What each side sends, and so what the other side waits for.
var (
	fromClient = []byte("hello")
	fromServer = append([]byte("hello"+"goodbye"), 10, 20, 30)
)

func main() {
	role := flag.String("role", "both", `"server" (world.server.js), "client" (hello-client.js), or "both" in one process`)
	ep := endpoint.Flags()
	clients := flag.Int("clients", 0, "server: exit after this many clients have come and gone (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the bytes have not come within this time")
	flag.Parse()

	ep.Main("raw-buffer", *role, []string{"server", "client", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, ep, *clients)
		case "client":
			return runClient(ctx, ep, *timeout)
		}
		return runBoth(ctx, ep, *timeout)
	})
}

// rawConfig sets raw mode, as node-ipc's example does on both sides.
func rawConfig(ipc *nodeipc.IPC, id string) {
	ipc.Config.ID = id
	ipc.Config.RawBuffer = true   // bytes as they are: no JSON, no delimiter
	ipc.Config.Encoding = "ascii" // how Emit turns a string into bytes
}

// startWorld is world.server.js.
func startWorld(ep *endpoint.Endpoint, clients int) (*endpoint.Server, error) {
	ipc := nodeipc.New()
	rawConfig(ipc, "world")
	if err := ep.Serve(ipc); err != nil { // ipc.Serve, or ipc.ServeNet for TCP and TLS
		return nil, err
	}

	// What each client has sent so far. Handlers of different connections
	// run concurrently, hence the lock.
	var mu sync.Mutex
	got := map[*nodeipc.Socket][]byte{}

	ipc.Server.On("connect", func(m *nodeipc.Message) {
		// In raw mode the event name is the value to send (node-ipc's
		// emit(socket, 'hello')), turned into bytes with Config.Encoding.
		if err := ipc.Server.Emit(m.Socket, "hello", nil); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}
	})
	ipc.Server.On("data", func(m *nodeipc.Message) {
		// m.Data holds the bytes of one read, not a JSON value.
		fmt.Printf("world: data: %d bytes %q\n", len(m.Data), m.Data)
		mu.Lock()
		got[m.Socket] = append(got[m.Socket], m.Data...)
		complete := bytes.Equal(got[m.Socket], fromClient)
		mu.Unlock()
		if !complete {
			return
		}
		fmt.Printf("world: got %q, answering\n", fromClient)
		if err := ipc.Server.Emit(m.Socket, "goodbye", nil); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}
		// A value in data is sent instead of the event name: a string,
		// []byte, or a slice of byte values such as node-ipc's [10, 20, 30].
		if err := ipc.Server.Emit(m.Socket, "", []byte{10, 20, 30}); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}
	})

	ipc.Server.On("socket.disconnected", func(m *nodeipc.Message) {
		mu.Lock()
		delete(got, m.Socket)
		mu.Unlock()
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

// runClient is hello-client.js.
func runClient(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := nodeipc.New()
	rawConfig(ipc, "hello")
	ipc.Config.Retry = 500 * time.Millisecond

	// Only this client's handlers touch got, and they run one at a time.
	var got []byte
	result := make(chan error, 1)
	err := ep.ConnectTo(ipc, "world", func() { // ipc.ConnectTo, or ipc.ConnectToNet for TCP and TLS
		world := ipc.Of("world")
		world.On("connect", func(*nodeipc.Message) {
			fmt.Println("hello: connected to world")
			if err := world.Emit("hello", nil); err != nil {
				fmt.Fprintln(os.Stderr, "hello:", err)
			}
		})
		world.On("data", func(m *nodeipc.Message) {
			fmt.Printf("hello: data: %d bytes %q\n", len(m.Data), m.Data)
			if len(got) >= len(fromServer) {
				return // judged already
			}
			got = append(got, m.Data...)
			switch {
			case len(got) < len(fromServer):
				return // more to come
			case !bytes.Equal(got, fromServer):
				result <- fmt.Errorf("got %x, want %x", got, fromServer)
			default:
				fmt.Printf("hello: got all %d bytes: %s\n", len(got), hex.EncodeToString(got))
				result <- nil
			}
		})
	})
	if err != nil {
		return err
	}
	world := ipc.Of("world")
	defer func() {
		ipc.Disconnect("world")
		<-world.Done()
	}()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("not every byte came from world: %w", context.Cause(ctx))
	}
}

// runBoth runs world and hello in this process.
func runBoth(ctx context.Context, ep *endpoint.Endpoint, timeout time.Duration) error {
	world, err := startWorld(ep, 1)
	if err != nil {
		return err
	}
	return world.RunClients(timeout, "hello", func() error { return runClient(ctx, ep, timeout) })
}
