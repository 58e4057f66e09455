package nodeipc_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// A server and a client exchange a message over a local socket (a Unix
// socket, or a named pipe on Windows), as node-ipc's world-server.js and
// hello-client.js do. Either side could be node-ipc itself.
func Example() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// world-server.js: answer every "message" with the text plus " world!".
	world := nodeipc.New()
	world.Config.ID = "world"
	world.Config.SocketRoot = root + "/" // default: node-ipc 14's owner-only root
	err = world.Serve("", func() {       // path "" is SocketRoot + AppSpace + ID
		world.Server.On("message", func(m *nodeipc.Message) {
			var text string
			_ = m.Decode(&text)
			fmt.Println("world got:", text)
			_ = world.Server.Emit(m.Socket, "message", text+" world!")
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := world.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer world.Server.Shutdown(context.Background())

	// hello-client.js: say hello once connected, print the answer.
	hello := nodeipc.New()
	hello.Config.ID = "hello"
	hello.Config.SocketRoot = root + "/"
	answer := make(chan string)
	err = hello.ConnectTo("world", "", func() { // ipc.of.world is hello.Of("world")
		w := hello.Of("world")
		w.On("connect", func(*nodeipc.Message) { _ = w.Emit("message", "hello") })
		w.On("message", func(m *nodeipc.Message) {
			var text string
			_ = m.Decode(&text)
			answer <- text
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("hello got:", <-answer)
	w := hello.Of("world")
	hello.Disconnect("world") // ipc.disconnect('world'): flush, close, forget
	<-w.Done()
	// Output:
	// world got: hello
	// hello got: hello world!
}

// Each instance is independent, as node-ipc's `new IPC()`: its own Config,
// clients and server. New starts from node-ipc 14's defaults.
func ExampleNew() {
	ipc := nodeipc.New()
	fmt.Println(ipc.Config.AppSpace, ipc.Config.NetworkHost, ipc.Config.NetworkPort, ipc.Config.Retry)

	// One JSON instance, one raw binary instance (node-ipc's README).
	raw := nodeipc.New()
	raw.Config.RawBuffer = true
	raw.Config.Encoding = "hex"
	fmt.Println(ipc.Config.RawBuffer, raw.Config.RawBuffer, raw.Config.Encoding)
	// Output:
	// app. 127.0.0.1 8000 500ms
	// false true hex
}

// Serve configures a local server; Start binds it. Handlers get the peer in
// Message.Socket, to answer it with Emit.
func ExampleIPC_Serve() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	ipc.Config.SocketRoot = root + "/"
	left := make(chan struct{})
	if err := ipc.Serve("", func() { fmt.Println("started") }); err != nil {
		log.Fatal(err)
	}
	ipc.Server.On("connect", func(*nodeipc.Message) { fmt.Println("a client connected") })
	ipc.Server.On("ping", func(m *nodeipc.Message) {
		fmt.Println("ping", string(m.Data))
		_ = ipc.Server.Emit(m.Socket, "pong", m.Data) // Data is raw JSON, sent as is
	})
	ipc.Server.On("socket.disconnected", func(*nodeipc.Message) { close(left) })
	if err := ipc.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer ipc.Server.Shutdown(context.Background())

	// A client: ping once, wait for the pong, leave.
	c, err := nodeipc.NewClient("world", "unix", ipc.Config.LocalPath("world"), nil)
	if err != nil {
		log.Fatal(err)
	}
	pong := make(chan struct{})
	c.On("pong", func(*nodeipc.Message) { close(pong) })
	_ = c.Emit("ping", map[string]int{"n": 1}) // waits in the outbox until connected
	c.Connect()
	<-pong
	_ = c.Close(context.Background())
	<-left
	fmt.Println("the client left")
	// Output:
	// started
	// a client connected
	// ping {"n":1}
	// the client left
}

// ConnectTo registers a client under an id and calls back before it connects,
// so that its handlers see every event. Of returns it by id; Disconnect
// flushes what it accepted, closes it and forgets it.
func ExampleIPC_ConnectTo() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// A server that greets every client.
	cfg := nodeipc.DefaultConfig()
	cfg.SocketRoot = root + "/"
	srv, err := nodeipc.NewServer("unix", cfg.LocalPath("world"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	srv.On("connect", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "welcome", "hello, client") })
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	ipc := nodeipc.New()
	ipc.Config.SocketRoot = root + "/"
	done := make(chan struct{})
	err = ipc.ConnectTo("world", "", func() { // path "" is SocketRoot + AppSpace + "world"
		ipc.Of("world").On("connect", func(*nodeipc.Message) { fmt.Println("connected") })
		ipc.Of("world").On("welcome", func(m *nodeipc.Message) {
			var text string
			_ = m.Decode(&text)
			fmt.Println("welcome:", text)
			close(done)
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	<-done
	c := ipc.Of("world")
	ipc.Disconnect("world")
	<-c.Done() // closed once the client has finished
	fmt.Println(ipc.Of("world") == nil)
	// Output:
	// connected
	// welcome: hello, client
	// true
}

// Broadcast sends one event to every connected client, encoding it once.
func ExampleServer_Broadcast() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	ipc.Config.SocketRoot = root + "/"
	if err := ipc.Serve("", nil); err != nil {
		log.Fatal(err)
	}
	connected := make(chan struct{}, 2)
	ipc.Server.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
	if err := ipc.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer ipc.Server.Shutdown(context.Background())

	// Two clients of one instance, each reporting the news it gets.
	news := map[string]chan string{"alice": make(chan string, 1), "bob": make(chan string, 1)}
	clients := nodeipc.New()
	for _, name := range []string{"alice", "bob"} {
		err := clients.ConnectTo(name, ipc.Server.Path(), func() {
			clients.Of(name).On("news", func(m *nodeipc.Message) { news[name] <- string(m.Data) })
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	<-connected
	<-connected

	if err := ipc.Server.Broadcast("news", map[string]any{"text": "everyone is here", "clients": 2}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", <-news["alice"])
	fmt.Println("bob:", <-news["bob"])
	for _, name := range []string{"alice", "bob"} {
		_ = clients.Of(name).Close(context.Background())
	}
	// Output:
	// alice: {"clients":2,"text":"everyone is here"}
	// bob: {"clients":2,"text":"everyone is here"}
}

// ServeNet serves TCP (or TLS with Config.TLS, or UDP with "udp4" or
// "udp6"); ConnectToNet connects to it. As in node-ipc, port 0 means
// NetworkPort (8000): this example takes a free port instead.
func ExampleIPC_ServeNet() {
	port := freePort()

	world := nodeipc.New()
	err := world.ServeNet("127.0.0.1", port, "", func() {
		world.Server.On("message", func(m *nodeipc.Message) {
			fmt.Println("world got:", string(m.Data))
			_ = world.Server.Emit(m.Socket, "message", "hello back")
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := world.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer world.Server.Shutdown(context.Background())

	hello := nodeipc.New()
	answer := make(chan string)
	err = hello.ConnectToNet("world", "127.0.0.1", port, func() {
		w := hello.Of("world")
		w.On("connect", func(*nodeipc.Message) { _ = w.Emit("message", map[string]string{"hello": "world"}) })
		w.On("message", func(m *nodeipc.Message) { answer <- string(m.Data) })
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("hello got:", <-answer)
	_ = hello.Of("world").Close(context.Background())
	// Output:
	// world got: {"hello":"world"}
	// hello got: "hello back"
}

// NewServer and NewClient are the Go-style constructors; with port 0 the
// system picks a free port, which Addr reports.
func ExampleNewServer() {
	srv, err := nodeipc.NewServer("tcp", "127.0.0.1:0", nil) // nil: DefaultConfig
	if err != nil {
		log.Fatal(err)
	}
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", m.Data) })
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := nodeipc.NewClient("me", "tcp", srv.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	pong := make(chan *nodeipc.Message)
	c.On("pong", func(m *nodeipc.Message) { pong <- m })
	c.Connect()
	_ = c.Emit("ping", []int{1, 2, 3})
	var got []int
	_ = (<-pong).Decode(&got)
	fmt.Println("pong", got)
	_ = c.Close(context.Background())
	// Output:
	// pong [1 2 3]
}

// TLSConfig holds node-ipc's tls settings: the server's key and certificate
// (private, public), and the certificates a side trusts (trustedConnections).
// Trusting a CA for clients makes a server ask each client for a certificate
// and refuse one it cannot verify (requestCert, rejectUnauthorized). Here the
// files are made for the example.
func ExampleTLSConfig() {
	dir, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certs, err := testcert.New(dir, "example") // a CA, and a server and a client certificate it signed
	if err != nil {
		log.Fatal(err)
	}

	world := nodeipc.New()
	world.Config.TLS = &nodeipc.TLSConfig{
		Private:            certs.Server.KeyFile,
		Public:             certs.Server.CertFile,
		TrustedConnections: []string{certs.CAFile}, // mutual TLS
	}
	srv, err := nodeipc.NewServer("tls", "127.0.0.1:0", &world.Config)
	if err != nil {
		log.Fatal(err)
	}
	srv.On("message", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "message", "hello, verified client") })
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	// The client verifies the server against the CA (rejectUnauthorized is
	// true by default) and presents its own certificate. With Config.TLS
	// set, ConnectToNet dials TLS.
	hello := nodeipc.New()
	hello.Config.TLS = &nodeipc.TLSConfig{
		Private:            certs.Client.KeyFile,
		Public:             certs.Client.CertFile,
		TrustedConnections: []string{certs.CAFile},
	}
	answer := make(chan string)
	err = hello.ConnectToNet("world", "127.0.0.1", srv.Addr().(*net.TCPAddr).Port, func() {
		w := hello.Of("world")
		w.On("connect", func(*nodeipc.Message) { _ = w.Emit("message", "hello") }) // after the handshake
		w.On("message", func(m *nodeipc.Message) {
			var text string
			_ = m.Decode(&text)
			answer <- text
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-answer)
	_ = hello.Of("world").Close(context.Background())
	// Output:
	// hello, verified client
}

// In raw-buffer mode there is no JSON and no delimiter: Emit sends bytes
// (a string through Config.Encoding, []byte as is) and the peer gets them in
// "data" events, one per read, with no message boundaries.
func Example_rawBuffer() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	world := nodeipc.New()
	world.Config.ID = "world"
	world.Config.SocketRoot = root + "/"
	world.Config.RawBuffer = true
	if err := world.Serve("", nil); err != nil {
		log.Fatal(err)
	}
	world.Server.On("data", func(m *nodeipc.Message) {
		fmt.Printf("world got % x\n", m.Data)
		_ = world.Server.Emit(m.Socket, "", []byte{10, 20, 30}) // the value is data; no event name is sent
	})
	if err := world.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer world.Server.Shutdown(context.Background())

	hello := nodeipc.New()
	hello.Config.SocketRoot = root + "/"
	hello.Config.RawBuffer = true
	hello.Config.Encoding = "hex" // strings given to Emit are hex
	got := make(chan []byte)
	err = hello.ConnectTo("world", "", func() {
		w := hello.Of("world")
		w.On("connect", func(*nodeipc.Message) { _ = w.Emit("cafe", nil) }) // node-ipc's emit(value)
		w.On("data", func(m *nodeipc.Message) { got <- m.Data })
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("hello got % x\n", <-got)
	_ = hello.Of("world").Close(context.Background())
	// Output:
	// world got ca fe
	// hello got 0a 14 1e
}

// In sync mode (Config.Sync) a client sends one emit at a time: the next
// waits until a message comes in. Here three questions go out one by one,
// each after the previous answer.
func Example_sync() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	world := nodeipc.New()
	world.Config.ID = "world"
	world.Config.SocketRoot = root + "/"
	if err := world.Serve("", nil); err != nil {
		log.Fatal(err)
	}
	world.Server.On("question", func(m *nodeipc.Message) {
		var n int
		_ = m.Decode(&n)
		fmt.Println("world got question", n)
		time.Sleep(10 * time.Millisecond) // think (this connection waits)
		_ = world.Server.Emit(m.Socket, "answer", n*n)
	})
	if err := world.Server.Start(); err != nil {
		log.Fatal(err)
	}
	defer world.Server.Shutdown(context.Background())

	hello := nodeipc.New()
	hello.Config.SocketRoot = root + "/"
	hello.Config.Sync = true
	answers := make(chan int)
	err = hello.ConnectTo("world", "", func() {
		w := hello.Of("world")
		w.On("connect", func(*nodeipc.Message) {
			for n := 1; n <= 3; n++ {
				_ = w.Emit("question", n) // the first goes out, the others wait
			}
		})
		w.On("answer", func(m *nodeipc.Message) {
			var a int
			_ = m.Decode(&a)
			fmt.Println("hello got answer", a)
			answers <- a
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		<-answers
	}
	_ = hello.Of("world").Close(context.Background())
	// Output:
	// world got question 1
	// hello got answer 1
	// world got question 2
	// hello got answer 4
	// world got question 3
	// hello got answer 9
}

// freePort returns a TCP port free at the moment on 127.0.0.1.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
