// Command binary is the Go twin of the binary raw-buffer example in node-ipc's
// README ("Raw Buffer or Binary Sockets"): a 6-byte buffer holding a
// big-endian uint16 (2) and a big-endian uint32 (16772812, 0xffeecc), the kind
// of record a C or C++ process or an embedded device reads as
//
//	struct { uint16_t kind; uint32_t value; } /* packed, network order */
//
// A nodeipc server in raw-buffer mode ("world") writes that record to each
// client that connects. The client is a "C-style" peer: a plain net.Conn
// that reads exactly 6 bytes and decodes them with encoding/binary, then
// writes a record of its own (kind 3, value 0xc0ffee) the same way, which the
// nodeipc side reads and decodes.
//
//	go run ./examples/binary                      # both peers in one process
//	go run ./examples/binary -role server         # terminal 1: the nodeipc side
//	go run ./examples/binary -role client         # terminal 2: the C-style side
//
// It uses TCP on 127.0.0.1, port 8000 by default. It exits 0 once both
// records crossed intact, 1 if not.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/cli"
)

// recordSize is sizeof the packed struct: a uint16 and a uint32.
const recordSize = 6

// The records each side sends.
var (
	fromServer = record{Kind: 2, Value: 16772812}
	fromClient = record{Kind: 3, Value: 0xc0ffee}
)

type record struct {
	Kind  uint16
	Value uint32
}

// encode writes r as node-ipc's README does with writeUInt16BE(kind, 0) and
// writeUInt32BE(value, 2).
func (r record) encode() []byte {
	b := make([]byte, 0, recordSize)
	b = binary.BigEndian.AppendUint16(b, r.Kind)
	return binary.BigEndian.AppendUint32(b, r.Value)
}

func decode(b []byte) record {
	return record{Kind: binary.BigEndian.Uint16(b[0:2]), Value: binary.BigEndian.Uint32(b[2:6])}
}

func main() {
	role := flag.String("role", "both", `"server" (the nodeipc side), "client" (the C-style side), or "both" in one process`)
	host := flag.String("host", nodeipc.DefaultNetworkHost, "host to serve on or connect to")
	port := flag.Int("port", nodeipc.DefaultNetworkPort, "TCP port (server: 0 picks a free one and prints it)")
	clients := flag.Int("clients", 0, "server: exit after this many clients have sent their record (0: serve until interrupted)")
	timeout := flag.Duration("timeout", 10*time.Second, "give up when the records have not crossed within this time")
	flag.Parse()

	cli.Main("binary", *role, []string{"server", "client", "both"}, func(ctx context.Context) error {
		switch *role {
		case "server":
			return runServer(ctx, *host, *port, *clients)
		case "client":
			return runClient(ctx, net.JoinHostPort(*host, strconv.Itoa(*port)), *timeout)
		}
		return runBoth(ctx, *host, *port, *timeout)
	})
}

// startWorld is the nodeipc side: raw-buffer mode over TCP.
func startWorld(host string, port int) (*nodeipc.IPC, <-chan error, error) {
	ipc := nodeipc.New()
	ipc.Config.ID = "world"
	ipc.Config.RawBuffer = true // bytes as they are: no JSON, no delimiter
	var err error
	if port == 0 {
		// ServeNet reads port 0 as node-ipc does (8000); NewServer takes
		// it as any free port.
		ipc.Server, err = nodeipc.NewServer("tcp", net.JoinHostPort(host, "0"), &ipc.Config)
	} else {
		err = ipc.ServeNet(host, port, "", nil)
	}
	if err != nil {
		return nil, nil, err
	}

	ipc.Server.On("connect", func(m *nodeipc.Message) {
		b := fromServer.encode()
		fmt.Printf("world: sending % x (uint16 %d, uint32 %d)\n", b, fromServer.Kind, fromServer.Value)
		// In raw mode the bytes go in data; the event name is not sent.
		if err := ipc.Server.Emit(m.Socket, "", b); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
		}
	})

	// A raw stream has no message boundaries: "data" gets whatever one read
	// returned, so collect bytes per client until a whole record is in.
	var mu sync.Mutex
	buffered := map[*nodeipc.Socket][]byte{}
	results := make(chan error, 100) // one per record read: nil if intact
	ipc.Server.On("data", func(m *nodeipc.Message) {
		mu.Lock()
		defer mu.Unlock()
		b := append(buffered[m.Socket], m.Data...)
		buffered[m.Socket] = b
		if len(b) < recordSize {
			return
		}
		r := decode(b)
		buffered[m.Socket] = b[recordSize:]
		fmt.Printf("world: read % x: uint16 %d, uint32 %d (%#x)\n", b[:recordSize], r.Kind, r.Value, r.Value)
		var err error
		if r != fromClient {
			err = fmt.Errorf("world read %+v, want %+v", r, fromClient)
		}
		select {
		case results <- err:
		default: // nobody is counting
		}
	})
	ipc.Server.On("close", func(m *nodeipc.Message) {
		mu.Lock()
		delete(buffered, m.Socket)
		mu.Unlock()
	})
	if err := ipc.Server.Start(); err != nil {
		return nil, nil, err
	}
	fmt.Println("world: listening on", ipc.Server.Addr())
	return ipc, results, nil
}

// runServer serves until interrupted, or until enough clients have sent
// their record.
func runServer(ctx context.Context, host string, port, clients int) error {
	ipc, results, err := startWorld(host, port)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	var errs []error
	for n := 0; clients == 0 || n < clients; n++ {
		select {
		case err := <-results:
			errs = append(errs, err)
		case <-ctx.Done():
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// runClient is the C-style peer: connect, read exactly one record, write one.
// This is what a C program does with connect(2), read(2) in a loop until 6
// bytes are in, ntohs/ntohl, then htons/htonl and write(2).
func runClient(ctx context.Context, address string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	var buf [recordSize]byte
	if _, err := io.ReadFull(conn, buf[:]); err != nil {
		return fmt.Errorf("c-peer: reading the record: %w", err)
	}
	r := decode(buf[:])
	fmt.Printf("c-peer: read % x: uint16 %d, uint32 %d (%#x)\n", buf, r.Kind, r.Value, r.Value)
	if r != fromServer {
		return fmt.Errorf("c-peer read %+v, want %+v", r, fromServer)
	}

	b := fromClient.encode()
	fmt.Printf("c-peer: sending % x (uint16 %d, uint32 %d)\n", b, fromClient.Kind, fromClient.Value)
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("c-peer: writing the record: %w", err)
	}
	return nil
}

// runBoth runs both peers in this process.
func runBoth(ctx context.Context, host string, port int, timeout time.Duration) error {
	ipc, results, err := startWorld(host, port)
	if err != nil {
		return err
	}
	defer ipc.Server.Shutdown(context.Background())
	if err := runClient(ctx, ipc.Server.Addr().String(), timeout); err != nil {
		return err
	}
	select {
	case err := <-results:
		return err
	case <-time.After(timeout):
		return errors.New("world did not get the c-peer's record")
	}
}
