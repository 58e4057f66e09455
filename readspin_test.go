//go:build unix

package nodeipc_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

func init() { workers["echo"] = echoWorker }

// echoWorker answers "ping" with "pong" on the endpoint of its argument
// (unix:PATH, tcp:HOST:PORT, or tls:HOST:PORT with the key and certificate
// named by NODEIPC_TEST_TLS="key,cert"), printing "ready ADDRESS", until
// stdin closes.
func echoWorker(arg string) int {
	network, addr, _ := strings.Cut(arg, ":")
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	if network == "tls" {
		key, cert, _ := strings.Cut(os.Getenv("NODEIPC_TEST_TLS"), ",")
		cfg.TLS = &nodeipc.TLSConfig{Private: key, Public: cert}
	}
	srv, err := nodeipc.NewServer(network, addr, &cfg)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", m.Data) })
	fmt.Println("ready", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Shutdown(context.Background())
	return 0
}

// startEcho starts an echo worker process and returns the address it serves.
func startEcho(t *testing.T, network, addr string, env ...string) string {
	t.Helper()
	_, line := startWorker(t, "echo:"+network+":"+addr, env, nil)
	served, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		t.Fatalf("echo worker: %q", line)
	}
	return served
}

// TestBusyConnectionsAreCountedUntilClosed keeps 64 requests in flight to a
// server in another process over Unix sockets, TCP and TLS, with and without
// polling: every reply arrives, the client's connection counts as busy
// meanwhile (only when it may poll), and once it is closed it is counted no
// more (one counted forever would keep every other connection of the
// process from polling).
func TestBusyConnectionsAreCountedUntilClosed(t *testing.T) {
	certs := certs(t, "spin")
	for _, network := range []string{"unix", "tcp", "tls"} {
		for _, spin := range []time.Duration{nodeipc.DefaultReadSpin, -1} { // -1: never poll
			t.Run(network+"/"+spin.String(), func(t *testing.T) {
				cfg := testConfig()
				cfg.ReadSpin = spin
				var addr string
				switch network {
				case "unix":
					addr = startEcho(t, network, tempRoot(t)+"echo.sock")
				case "tcp":
					addr = startEcho(t, network, "127.0.0.1:0")
				case "tls":
					addr = startEcho(t, network, "127.0.0.1:0", "NODEIPC_TEST_TLS="+certs.Server.KeyFile+","+certs.Server.CertFile)
					cfg.TLS = &nodeipc.TLSConfig{TrustedConnections: []string{certs.CAFile}}
				}
				c, err := nodeipc.NewClient("c", network, addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				const total, inflight = 20000, 64
				sent, got, busiest := 0, 0, int32(0)
				done := make(chan error, 1)
				c.On("pong", func(m *nodeipc.Message) {
					busiest = max(busiest, nodeipc.BusyReaders())
					if got++; got == total {
						done <- nil
					} else if sent < total {
						sent++
						if err := c.Emit("ping", sent); err != nil {
							done <- err
						}
					}
				})
				c.On("connect", func(*nodeipc.Message) {
					for ; sent < inflight; sent++ {
						_ = c.Emit("ping", sent)
					}
				})
				c.Connect()
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(60 * time.Second):
					t.Fatalf("%d of %d replies", got, total)
				}
				if spin > 0 && busiest == 0 {
					t.Error("the connection was never counted as busy")
				}
				if spin < 0 && busiest != 0 {
					t.Errorf("%d connections that may not poll counted as busy", busiest)
				}
				if err := c.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				if n, ends := nodeipc.BusyReaders(), nodeipc.TCPEnds(); n != 0 || ends != 0 {
					t.Fatalf("after Close: %d connections counted as busy, %d TCP ends recorded", n, ends)
				}
			})
		}
	}
}
