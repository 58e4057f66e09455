// Command udp-raw-buffer is the Go twin of node-ipc's UDP rawBuffer example:
// with Config.RawBuffer there is no JSON and no delimiter, each datagram is
// bytes. "world" serves on UDP port 8000 and answers every datagram with the
// bytes "goodbye"; "hello" serves on port 8001 (it needs a port of its own to
// get answers on) and sends world the bytes "hello".
//
//	go run ./examples/udp-raw-buffer                  # both in one process, udp4
//	go run ./examples/udp-raw-buffer -udp udp6        # the same over IPv6 (::1)
//	go run ./examples/udp-raw-buffer -role server     # terminal 1: world.server.js
//	go run ./examples/udp-raw-buffer -role client     # terminal 2: hello-client.js
//
// Start world first: a datagram sent where nobody listens is lost, so hello
// sends again every -resend until it gets the answer. Each datagram arrives
// whole, as one "data" event. It exits 0 once hello got "goodbye", 1 if it
// did not.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/cli"
	"github.com/effeeea0/nodeipc/examples/internal/endpoint"
)

func main() {
	role := flag.String("role", "both", `"server" (world.server.js), "client" (hello-client.js), or "both" in one process`)
	u := endpoint.UDPFlags() // -udp, -port (world's) and -resend
	helloPort := flag.Int("hello-port", 8001, "client: hello's own UDP port (0: any free one)")
	datagrams := flag.Int("datagrams", 0, "server: exit after answering this many datagrams (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the answer has not come within this time")
	flag.Parse()

	cli.Main("udp-raw-buffer", *role, []string{"server", "client", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, u, *datagrams)
		case "client":
			return runClient(ctx, u, *helloPort, u.Port, *timeout)
		}
		return runBoth(ctx, u, *helloPort, *timeout)
	})
}

// newRaw returns an instance in raw-buffer mode, as node-ipc's example sets
// both sides up.
func newRaw(id string) *nodeipc.IPC {
	ipc := nodeipc.New()
	ipc.Config.ID = id
	ipc.Config.RawBuffer = true   // bytes as they are: no JSON, no delimiter
	ipc.Config.Encoding = "ascii" // how Emit turns a string into bytes
	return ipc
}

// startWorld is world.server.js: answer every datagram with "goodbye". The
// channel is closed after `datagrams` answers (never for 0).
func startWorld(u *endpoint.UDP, datagrams int) (*nodeipc.IPC, <-chan struct{}, error) {
	ipc := newRaw("world")
	if err := u.Serve(ipc, u.Port); err != nil { // ipc.ServeNet for udp4 or udp6
		return nil, nil, err
	}
	enough := make(chan struct{})
	var answered atomic.Int64
	ipc.Server.On("data", func(m *nodeipc.Message) {
		// m.Data is one datagram's bytes; m.Socket its sender.
		fmt.Printf("world: got %q from %s\n", m.Data, m.Socket.RemoteAddr())
		// In raw mode the event name is the value to send (node-ipc's
		// emit(socket, 'goodbye')), turned into bytes with Config.Encoding.
		if err := ipc.Server.Emit(m.Socket, "goodbye", nil); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
			return
		}
		if answered.Add(1) == int64(datagrams) {
			close(enough)
		}
	})
	if err := u.Start(ipc); err != nil {
		return nil, nil, err
	}
	return ipc, enough, nil
}

// runServer serves until interrupted, or until enough datagrams were
// answered.
func runServer(ctx context.Context, u *endpoint.UDP, datagrams int) error {
	ipc, enough, err := startWorld(u, datagrams)
	if err != nil {
		return err
	}
	endpoint.ServeUntil(ctx, ipc.Server, enough)
	return nil
}

// runClient is hello-client.js: serve on a port of our own, send world
// "hello" until "goodbye" comes back.
func runClient(ctx context.Context, u *endpoint.UDP, ownPort, worldPort int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := newRaw("hello")
	if err := u.Serve(ipc, ownPort); err != nil {
		return err
	}
	answered := make(chan struct{})
	var once sync.Once
	ipc.Server.On("data", func(m *nodeipc.Message) {
		fmt.Printf("hello: got %q from world\n", m.Data)
		if string(m.Data) == "goodbye" {
			once.Do(func() { close(answered) })
		}
	})
	if err := u.Start(ipc); err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())

	// node-ipc's {address, port} target: an IP address or a host name
	// such as "localhost".
	world := nodeipc.UDPPeer(u.Host(), worldPort)
	for {
		if err := ipc.Server.Emit(world, "hello", nil); err != nil {
			return err
		}
		select {
		case <-answered:
			return nil
		case <-time.After(u.Resend):
			fmt.Println("hello: no answer yet, sending again")
		case <-ctx.Done():
			return fmt.Errorf("no answer from world: %w", context.Cause(ctx))
		}
	}
}

// runBoth runs world and hello in this process.
func runBoth(ctx context.Context, u *endpoint.UDP, helloPort int, timeout time.Duration) error {
	ipc, _, err := startWorld(u, 0)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	bound := ipc.Server.Addr().(*net.UDPAddr).Port
	return runClient(ctx, u, helloPort, bound, timeout)
}
