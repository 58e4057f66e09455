package nodeipc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/effeeea0/nodeipc"
)

// A server answers requests with Handle; a client asks with Request and
// waits for the reply. node-ipc has no requests: a node-ipc program takes
// part through the Node.js companion (companion/ in this repository).
func ExampleClient_Request() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	cfg := nodeipc.DefaultConfig()
	cfg.SocketRoot = root + "/"

	srv, err := nodeipc.NewServer("unix", cfg.LocalPath("calc"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	// The value a handler returns is the reply's data; an error is the
	// requester's *RemoteError.
	srv.Handle("sum", func(ctx context.Context, m *nodeipc.Message) (any, error) {
		var numbers []int
		if err := m.Decode(&numbers); err != nil {
			return nil, err
		}
		total := 0
		for _, n := range numbers {
			total += n
		}
		return total, nil
	})
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := nodeipc.NewClient("calc", "unix", cfg.LocalPath("calc"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	c.Connect()
	defer c.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := c.Request(ctx, "sum", []int{1, 2, 3}) // waits in the outbox until connected
	if err != nil {
		log.Fatal(err)
	}
	var total int
	if err := reply.Decode(&total); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum:", total)
	// Output:
	// sum: 6
}

// A server asks one client with Request; the client answers with Handle.
// The request is made outside the server's handlers: a reply is read by the
// goroutine that runs the handlers of its connection, so a handler that
// waited for one would wait until its context ended.
func ExampleServer_Request() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	cfg := nodeipc.DefaultConfig()
	cfg.SocketRoot = root + "/"

	srv, err := nodeipc.NewServer("unix", cfg.LocalPath("pool"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	socks := make(chan *nodeipc.Socket, 1)
	srv.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	worker, err := nodeipc.NewClient("pool", "unix", cfg.LocalPath("pool"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	worker.Handle("status", func(ctx context.Context, m *nodeipc.Message) (any, error) {
		return map[string]any{"state": "busy", "jobs": 3}, nil
	})
	worker.Connect()
	defer worker.Close(context.Background())

	sock := <-socks
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := srv.Request(ctx, sock, "status", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", string(reply.Data))
	// Output:
	// status: {"jobs":3,"state":"busy"}
}

// A request that fails comes back as a *RemoteError: the code and message
// of the handler's own *RemoteError, ERR_IPC_HANDLER_FAILED for any other
// error, or ERR_IPC_NO_HANDLER when the peer has no handler for the event.
func ExampleRemoteError() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	cfg := nodeipc.DefaultConfig()
	cfg.SocketRoot = root + "/"

	srv, err := nodeipc.NewServer("unix", cfg.LocalPath("users"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	srv.Handle("user", func(ctx context.Context, m *nodeipc.Message) (any, error) {
		var q struct {
			Name string `json:"name"`
		}
		if err := m.Decode(&q); err != nil {
			return nil, err
		}
		return nil, &nodeipc.RemoteError{Code: "E_NO_USER", Message: "no user " + q.Name}
	})
	srv.Handle("report", func(ctx context.Context, m *nodeipc.Message) (any, error) {
		return nil, errors.New("disk full")
	})
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := nodeipc.NewClient("users", "unix", cfg.LocalPath("users"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	c.Connect()
	defer c.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range []struct {
		event string
		data  any
	}{
		{"user", map[string]string{"name": "ann"}},
		{"report", nil},
		{"resize", nil},
	} {
		_, err := c.Request(ctx, q.event, q.data)
		var re *nodeipc.RemoteError
		if errors.As(err, &re) {
			fmt.Printf("%s: %s: %s\n", q.event, re.Code, re.Message)
		}
	}
	// Output:
	// user: E_NO_USER: no user ann
	// report: ERR_IPC_HANDLER_FAILED: disk full
	// resize: ERR_IPC_NO_HANDLER: no handler for "resize"
}

// With Acks on both ends, every message is numbered in its sender's
// session, delivered once and in order across reconnects, and kept by the
// sender until the receiver acknowledges it; Flush waits for that. A
// receiver that must not deliver a message twice after its own restart
// records Message.Session and Message.Seq with its effects and answers
// Config.AckDelivered from that record.
func ExampleConfig_acks() {
	root, err := os.MkdirTemp("", "nodeipc-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	cfg := nodeipc.DefaultConfig()
	cfg.SocketRoot = root + "/"
	cfg.Acks = true

	srv, err := nodeipc.NewServer("unix", cfg.LocalPath("orders"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	orders := make(chan *nodeipc.Message, 3)
	srv.On("order", func(m *nodeipc.Message) {
		orders <- m
		// To a client with acknowledgements, Emit numbers the message in
		// the server's stream to that client's session.
		_ = srv.Emit(m.Socket, "receipt", m.Data)
	})
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := nodeipc.NewClient("orders", "unix", cfg.LocalPath("orders"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	receipts := make(chan *nodeipc.Message, 3)
	c.On("receipt", func(m *nodeipc.Message) { receipts <- m })
	for id := 1; id <= 3; id++ {
		// Kept until acknowledged: before the connection, during it, and
		// across reconnects.
		if err := c.Emit("order", map[string]int{"id": id}); err != nil {
			log.Fatal(err)
		}
	}
	c.Connect()
	defer c.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("the server acknowledged every order")
	for range 3 {
		m := <-orders
		fmt.Printf("server got %s %s: seq %d of the client's session: %v\n", m.Type, m.Data, m.Seq, m.Session == c.Session())
	}
	for range 3 {
		m := <-receipts
		fmt.Printf("client got %s %s: seq %d\n", m.Type, m.Data, m.Seq)
	}
	// Output:
	// the server acknowledged every order
	// server got order {"id":1}: seq 1 of the client's session: true
	// server got order {"id":2}: seq 2 of the client's session: true
	// server got order {"id":3}: seq 3 of the client's session: true
	// client got receipt {"id":1}: seq 1
	// client got receipt {"id":2}: seq 2
	// client got receipt {"id":3}: seq 3
}
