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
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
)

func main() {
	role := flag.String("role", "both", `"server" (world.server.js), "client" (hello-client.js), or "both" in one process`)
	udpType := flag.String("udp", "udp4", "udp4 (on 127.0.0.1) or udp6 (on ::1)")
	port := flag.Int("port", nodeipc.DefaultNetworkPort, "world's UDP port (server: 0 picks a free one and prints it)")
	helloPort := flag.Int("hello-port", 8001, "client: hello's own UDP port (0: any free one)")
	datagrams := flag.Int("datagrams", 0, "server: exit after answering this many datagrams (0: serve until interrupted)")
	resend := flag.Duration("resend", 500*time.Millisecond, "client: send again after this long without an answer")
	timeout := flag.Duration("timeout", 10*time.Second, "client: give up when the answer has not come within this time")
	flag.Parse()

	host := "127.0.0.1"
	if *udpType == "udp6" {
		host = "::1" // node-ipc's default host is IPv4: udp6 needs one given
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var err error
	switch *role {
	case "server":
		err = runServer(ctx, *udpType, host, *port, *datagrams)
	case "client":
		err = runClient(ctx, *udpType, host, *helloPort, *port, *resend, *timeout)
	case "both":
		err = runBoth(ctx, *udpType, host, *port, *helloPort, *resend, *timeout)
	default:
		err = fmt.Errorf("unknown -role %q: want server, client or both", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "udp-raw-buffer:", err)
		os.Exit(1)
	}
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

// serveUDP sets ipc.Server to a UDP server on host:port. ServeNet reads port
// 0 as node-ipc does (the default, 8000); NewServer takes it as any free
// port.
func serveUDP(ipc *nodeipc.IPC, udpType, host string, port int) error {
	if port == 0 {
		var err error
		ipc.Server, err = nodeipc.NewServer(udpType, net.JoinHostPort(host, "0"), &ipc.Config)
		return err
	}
	return ipc.ServeNet(host, port, udpType, nil)
}

// startWorld is world.server.js: answer every datagram with "goodbye". The
// channel is closed after `datagrams` answers (never for 0).
func startWorld(udpType, host string, port, datagrams int) (*nodeipc.IPC, <-chan struct{}, error) {
	ipc := newRaw("world")
	if err := serveUDP(ipc, udpType, host, port); err != nil {
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
	if err := ipc.Server.Start(); err != nil {
		return nil, nil, err
	}
	fmt.Println("world: listening on", udpType, ipc.Server.Addr())
	return ipc, enough, nil
}

// runServer serves until interrupted, or until enough datagrams were
// answered.
func runServer(ctx context.Context, udpType, host string, port, datagrams int) error {
	ipc, enough, err := startWorld(udpType, host, port, datagrams)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	select {
	case <-enough:
	case <-ctx.Done():
	}
	return nil
}

// runClient is hello-client.js: serve on a port of our own, send world
// "hello" until "goodbye" comes back.
func runClient(ctx context.Context, udpType, host string, ownPort, worldPort int, resend, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ipc := newRaw("hello")
	if err := serveUDP(ipc, udpType, host, ownPort); err != nil {
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
	if err := ipc.Server.Start(); err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	fmt.Println("hello: listening on", udpType, ipc.Server.Addr())

	// node-ipc's {address, port} target. Give an IP address: a host name
	// is not resolved.
	world := nodeipc.UDPPeer(host, worldPort)
	for {
		if err := ipc.Server.Emit(world, "hello", nil); err != nil {
			return err
		}
		select {
		case <-answered:
			return nil
		case <-time.After(resend):
			fmt.Println("hello: no answer yet, sending again")
		case <-ctx.Done():
			return fmt.Errorf("no answer from world: %w", context.Cause(ctx))
		}
	}
}

// runBoth runs world and hello in this process.
func runBoth(ctx context.Context, udpType, host string, port, helloPort int, resend, timeout time.Duration) error {
	ipc, _, err := startWorld(udpType, host, port, 0)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	bound := ipc.Server.Addr().(*net.UDPAddr).Port
	return runClient(ctx, udpType, host, helloPort, bound, resend, timeout)
}
