// Command udp is the Go twin of node-ipc's UDP examples, basic and
// Multi-Client-Broadcast, and of the UDP servers in node-ipc's README. A UDP
// "client" is a UDP server too, since it needs a port of its own to get
// answers on: "world" serves on port 8000 and answers every "message" to its
// sender; "hello" (port 8001) and "goodbye" (port 8002) each send world a
// "message". Once world has heard from both, it broadcasts a "message" to
// every peer it has seen.
//
//	go run ./examples/udp                          # all three in one process, udp4
//	go run ./examples/udp -udp udp6                # the same over IPv6 (::1)
//	go run ./examples/udp -role server             # terminal 1: world-server.js
//	go run ./examples/udp -role hello              # terminal 2: hello-client.js (basic)
//	go run ./examples/udp -role goodbye -broadcast # terminal 3: waits for the broadcast too
//
// Start world first. UDP has no connection: a datagram sent where nobody
// listens is lost, so a client sends again every -resend until it gets an
// answer. A client exits 0 once it got world's answer (and with -broadcast,
// the broadcast), 1 if it did not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/cli"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

// message is the data every "message" carries: {"id":...,"message":...}.
type message struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// loved is what world broadcasts once it has heard from hello and goodbye.
const loved = "Everybody loves the world! Got messages from hello and goodbye!"

func main() {
	role := flag.String("role", "both", `"server" (world-server.js), "hello" or "goodbye" (the clients), or "both": all three in one process`)
	u := endpoint.UDPFlags() // -udp, -port (world's) and -resend
	ownPort := flag.Int("own-port", -1, "client: its own UDP port (default: 8001 for hello, 8002 for goodbye; 0: any free one)")
	broadcast := flag.Bool("broadcast", false, "client: wait for world's broadcast too, after the answer")
	clients := flag.Int("clients", 0, "server: exit after answering this many peers (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the answers have not come within this time")
	flag.Parse()

	if *ownPort < 0 {
		*ownPort = map[string]int{"hello": 8001, "goodbye": 8002}[*role]
	}

	cli.Main("udp", *role, []string{"server", "hello", "goodbye", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, u, *clients)
		case "hello", "goodbye":
			c := client{id: *role, u: u, ownPort: *ownPort, worldPort: u.Port, broadcast: *broadcast, timeout: *timeout}
			return c.run(ctx)
		}
		return runAll(ctx, u, *timeout)
	})
}

// startWorld is world-server.js: answer every "message" to its sender, and
// broadcast once both hello and goodbye have spoken. The channel is closed
// once `clients` peers have been answered (never for 0).
func startWorld(u *endpoint.UDP, clients int) (*nodeipc.IPC, <-chan struct{}, error) {
	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	if err := u.Serve(ipc, u.Port); err != nil { // ipc.ServeNet for udp4 or udp6
		return nil, nil, err
	}

	enough := make(chan struct{})
	// One reader goroutine serves every UDP peer, so handlers run one at a
	// time; the lock keeps this safe all the same.
	var mu sync.Mutex
	heard := map[string]bool{}    // ids heard from
	answered := map[string]bool{} // peers answered, by address
	told := false                 // the broadcast went out
	ipc.Server.On("message", func(m *nodeipc.Message) {
		var msg message
		if err := m.Decode(&msg); err != nil {
			fmt.Fprintln(os.Stderr, "world: bad message:", err)
			return
		}
		fmt.Println("world: got a message from", msg.ID+":", msg.Message)
		// m.Socket is the sender's address: Emit answers there.
		if err := ipc.Server.Emit(m.Socket, "message", message{ID: ipc.Config.ID, Message: msg.Message + " world!"}); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
			return
		}

		mu.Lock()
		defer mu.Unlock()
		heard[msg.ID] = true
		if heard["hello"] && heard["goodbye"] && !told {
			told = true
			fmt.Println("world: got messages from hello and goodbye, telling everyone")
			// Every peer this server has seen gets it.
			if err := ipc.Server.Broadcast("message", message{ID: ipc.Config.ID, Message: loved}); err != nil {
				fmt.Fprintln(os.Stderr, "world:", err)
			}
		}
		if peer := m.Socket.RemoteAddr().String(); !answered[peer] {
			answered[peer] = true
			if len(answered) == clients {
				close(enough)
			}
		}
	})
	if err := u.Start(ipc); err != nil {
		return nil, nil, err
	}
	return ipc, enough, nil
}

// runServer serves until interrupted, or until enough peers were answered.
func runServer(ctx context.Context, u *endpoint.UDP, clients int) error {
	ipc, enough, err := startWorld(u, clients)
	if err != nil {
		return err
	}
	endpoint.ServeUntil(ctx, ipc.Server, enough)
	return nil
}

// client is hello-client.js or goodbye-client.js.
type client struct {
	id                 string
	u                  *endpoint.UDP
	ownPort, worldPort int
	broadcast          bool // wait for world's broadcast too
	timeout            time.Duration
}

// run serves on the client's own port, sends world a message until it gets
// the answer, and then, if asked to, waits for world's broadcast.
func (c client) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	ipc := nodeipc.New()
	ipc.Config.ID = c.id
	if err := c.u.Serve(ipc, c.ownPort); err != nil {
		return err
	}
	text := map[string]string{"hello": "Hello", "goodbye": "Goodbye"}[c.id]
	answered, told := make(chan struct{}), make(chan struct{})
	var answerOnce, toldOnce sync.Once
	ipc.Server.On("message", func(m *nodeipc.Message) {
		var msg message
		_ = m.Decode(&msg)
		fmt.Println(c.id+": got a message from", msg.ID+":", msg.Message)
		switch msg.Message {
		case text + " world!":
			answerOnce.Do(func() { close(answered) })
		case loved:
			toldOnce.Do(func() { close(told) })
		}
	})
	if err := c.u.Start(ipc); err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())

	// node-ipc's {address, port} target: an IP address or a host name
	// such as "localhost".
	world := nodeipc.UDPPeer(c.u.Host(), c.worldPort)
	for sent := false; !sent; {
		if err := ipc.Server.Emit(world, "message", message{ID: c.id, Message: text}); err != nil {
			return err
		}
		select {
		case <-answered:
			sent = true
		case <-time.After(c.u.Resend):
			fmt.Println(c.id + ": no answer yet, sending again")
		case <-ctx.Done():
			return fmt.Errorf("%s: no answer from world: %w", c.id, context.Cause(ctx))
		}
	}
	if !c.broadcast {
		return nil
	}
	select {
	case <-told:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no broadcast from world: %w", c.id, context.Cause(ctx))
	}
}

// runAll runs world, hello and goodbye in this process; the clients take any
// free ports and wait for the broadcast.
func runAll(ctx context.Context, u *endpoint.UDP, timeout time.Duration) error {
	ipc, _, err := startWorld(u, 0)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	bound := ipc.Server.Addr().(*net.UDPAddr).Port

	errs := make(chan error, 2)
	for _, id := range []string{"hello", "goodbye"} {
		c := client{id: id, u: u, worldPort: bound, broadcast: true, timeout: timeout}
		go func() { errs <- c.run(ctx) }()
	}
	return errors.Join(<-errs, <-errs)
}
