// Command basic-sync is the Go twin of node-ipc's basicSync examples (local,
// TCP and TLS): a client in sync mode queues ten "app.message" events at
// once, and the library sends them one at a time, each after the previous
// one was answered. The server takes its time to answer each (node-ipc's
// examples wait 2 or 3 s; here -delay).
//
//	go run ./examples/basic-sync                      # both sides in one process
//	go run ./examples/basic-sync -role server         # terminal 1: world-server.js
//	go run ./examples/basic-sync -role client         # terminal 2: hello-client.js
//	go run ./examples/basic-sync -transport tcp       # over TCP (or tls)
//	go run ./examples/basic-sync -sync=false          # see what sync mode prevents
//
// Sync mode is a client setting (Config.Sync) and needs nothing from the
// server: any message the client receives releases the next queued emit. The
// server here counts the questions it has not answered yet; in sync mode
// there is never more than one (try -sync=false). It exits 0 once every
// answer came back and sync mode held.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

// message is the data of an "app.message" event: {"id":...,"message":...}.
type message struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func main() {
	role := flag.String("role", "both", `"server" (world-server.js), "client" (hello-client.js), or "both" in one process`)
	ep := endpoint.Flags()
	count := flag.Int("n", 10, "client: how many messages to queue")
	syncMode := flag.Bool("sync", true, "client: sync mode (try -sync=false: the server sees questions pile up)")
	delay := flag.Duration("delay", 200*time.Millisecond, "server: how long to think before answering")
	clients := flag.Int("clients", 0, "server: exit after this many clients have come and gone (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the answers have not come within this time")
	flag.Parse()

	ep.Main("basic-sync", *role, []string{"server", "client", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, ep, *delay, *clients)
		case "client":
			return runClient(ctx, ep, *count, *syncMode, *timeout)
		}
		return runBoth(ctx, ep, *count, *syncMode, *delay, *timeout)
	})
}

// world is world-server.js, counting each client's unanswered questions.
type world struct {
	*endpoint.Server

	mu      sync.Mutex
	pending map[*nodeipc.Socket]int // questions received and not answered yet
	piledUp bool                    // a client had two: it did not wait
}

func startWorld(ep *endpoint.Endpoint, delay time.Duration, clients int) (*world, error) {
	w := &world{pending: map[*nodeipc.Socket]int{}}
	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	if err := ep.Serve(ipc); err != nil { // ipc.Serve, or ipc.ServeNet for TCP and TLS
		return nil, err
	}

	ipc.Server.On("app.message", func(m *nodeipc.Message) {
		var msg message
		if err := m.Decode(&msg); err != nil {
			fmt.Fprintln(os.Stderr, "world: bad app.message:", err)
			return
		}
		// Handlers of different connections run concurrently: lock.
		w.mu.Lock()
		w.pending[m.Socket]++
		n := w.pending[m.Socket]
		w.piledUp = w.piledUp || n > 1
		w.mu.Unlock()
		fmt.Printf("world: got %s from %s (%d waiting)\n", msg.Message, msg.ID, n)

		// Answer later, as node-ipc's example does with setTimeout. The
		// handler returns at once, so this connection's next events are
		// not held up meanwhile.
		time.AfterFunc(delay, func() {
			w.mu.Lock()
			w.pending[m.Socket]--
			w.mu.Unlock()
			err := ipc.Server.Emit(m.Socket, "app.message", message{ID: ipc.Config.ID, Message: msg.Message + " world!"})
			if err != nil {
				fmt.Fprintln(os.Stderr, "world:", err)
			}
		})
	})

	ipc.Server.On("socket.disconnected", func(m *nodeipc.Message) {
		w.mu.Lock()
		delete(w.pending, m.Socket)
		w.mu.Unlock()
	})
	// Start binds, prints where, and counts the clients that disconnect.
	var err error
	if w.Server, err = ep.Start(ipc, clients); err != nil {
		return nil, err
	}
	return w, nil
}

// check reports whether questions piled up, once the server is shut down.
func (w *world) check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.piledUp {
		return errors.New("questions piled up at the server: the client was not in sync mode")
	}
	return nil
}

// runServer serves until interrupted, or until enough clients have left.
func runServer(ctx context.Context, ep *endpoint.Endpoint, delay time.Duration, clients int) error {
	w, err := startWorld(ep, delay, clients)
	if err != nil {
		return err
	}
	w.ServeUntil(ctx)
	return w.check()
}

// runClient is hello-client.js: in sync mode, queue n messages on connect
// and print the answers as they come.
func runClient(ctx context.Context, ep *endpoint.Endpoint, n int, syncMode bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := nodeipc.New()
	ipc.Config.ID = "hello"
	ipc.Config.Retry = 500 * time.Millisecond
	ipc.Config.Sync = syncMode // true: one emit in flight; the next after a message comes in

	allAnswered := make(chan struct{})
	var answers atomic.Int64
	err := ep.ConnectTo(ipc, "world", func() { // ipc.ConnectTo, or ipc.ConnectToNet for TCP and TLS
		world := ipc.Of("world")
		world.On("connect", func(*nodeipc.Message) {
			fmt.Println("hello: connected to world")
			// Queue up a bunch of requests to be sent one by one.
			for i := range n {
				if err := world.Emit("app.message", message{ID: ipc.Config.ID, Message: fmt.Sprint("hello", i)}); err != nil {
					fmt.Fprintln(os.Stderr, "hello:", err)
				}
			}
		})
		world.On("app.message", func(m *nodeipc.Message) {
			var msg message
			_ = m.Decode(&msg)
			fmt.Println("hello: got a message from world:", msg.Message)
			if answers.Add(1) == int64(n) {
				close(allAnswered)
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
	case <-allAnswered:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d answers came: %w", answers.Load(), n, context.Cause(ctx))
	}
}

// runBoth runs world and hello in this process.
func runBoth(ctx context.Context, ep *endpoint.Endpoint, n int, syncMode bool, delay, timeout time.Duration) error {
	w, err := startWorld(ep, delay, 1)
	if err != nil {
		return err
	}
	err = w.RunClients(timeout, "hello", func() error { return runClient(ctx, ep, n, syncMode, timeout) })
	if err != nil {
		return err
	}
	return w.check()
}
