//go:build unix

// Not on Windows: Wine, where the Windows build is tested, has no UDP
// sockets for Go, and an example cannot skip.

package nodeipc_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/effeeea0/nodeipc"
)

// A UDP endpoint is a server that also sends, as node-ipc's serveNet('udp4'):
// each side binds a port of its own, and Emit takes the peer's address, from
// Message.Socket or UDPPeer. ServeNet(host, port, "udp4", nil) builds the
// same server; NewServer is used here for its free port.
func Example_udp() {
	world, err := nodeipc.NewServer("udp4", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	world.On("message", func(m *nodeipc.Message) {
		var text string
		_ = m.Decode(&text)
		fmt.Println("world got:", text)
		_ = world.Emit(m.Socket, "message", text+" world!") // back to the sender's address
	})
	if err := world.Start(); err != nil {
		log.Fatal(err)
	}
	defer world.Shutdown(context.Background())

	hello, err := nodeipc.NewServer("udp4", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	answer := make(chan string)
	hello.On("message", func(m *nodeipc.Message) {
		var text string
		_ = m.Decode(&text)
		answer <- text
	})
	if err := hello.Start(); err != nil {
		log.Fatal(err)
	}
	defer hello.Shutdown(context.Background())

	// node-ipc's emit({address, port}, ...): an IP address, not a name.
	to := nodeipc.UDPPeer("127.0.0.1", world.Addr().(*net.UDPAddr).Port)
	if err := hello.Emit(to, "message", "Hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("hello got:", <-answer)
	// Output:
	// world got: Hello
	// hello got: Hello world!
}
