package interop

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

func tlsEndpoint(t *testing.T) endpoint {
	return endpoint{network: "tls", addr: "127.0.0.1:" + strconv.Itoa(freePort(t))}
}

// opts for peer.mjs: TLS is TCP with config.tls set.
func (e endpoint) tlsOpts(lib int, role string, tlsCfg map[string]any, events []string) map[string]any {
	o := endpoint{network: "tcp", addr: e.addr}.opts(lib, role, map[string]any{"events": events})
	o["config"] = map[string]any{"tls": tlsCfg}
	return o
}

func goTLSConfig(tc *nodeipc.TLSConfig) *nodeipc.Config {
	c := goConfig()
	c.TLS = tc
	return c
}

// TLS, Go server with node-ipc clients and node-ipc server with Go clients,
// for every version; mutual TLS with node-ipc 14 both ways.
func TestTLSWithNodeIPC(t *testing.T) {
	certs, err := testcert.New(t.TempDir(), "interop")
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile}
	clientTLS := &nodeipc.TLSConfig{TrustedConnections: []string{certs.CAFile}}
	nodeServer := map[string]any{"private": certs.Server.KeyFile, "public": certs.Server.CertFile}
	nodeClient := map[string]any{"trustedConnections": []string{certs.CAFile}, "rejectUnauthorized": true}
	mutualGoServer := &nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile, TrustedConnections: []string{certs.CAFile}}
	mutualGoClient := &nodeipc.TLSConfig{Private: certs.Client.KeyFile, Public: certs.Client.CertFile, TrustedConnections: []string{certs.CAFile}}
	mutualNodeServer := map[string]any{"private": certs.Server.KeyFile, "public": certs.Server.CertFile, "trustedConnections": []string{certs.CAFile}, "requestCert": true, "rejectUnauthorized": true}
	mutualNodeClient := map[string]any{"private": certs.Client.KeyFile, "public": certs.Client.CertFile, "trustedConnections": []string{certs.CAFile}, "rejectUnauthorized": true}

	type tcase struct {
		name             string
		libs             []int
		goSrv, goCl      *nodeipc.TLSConfig
		nodeSrv, nodeCli map[string]any
	}
	for _, c := range []tcase{
		{"one-way", versions, serverTLS, clientTLS, nodeServer, nodeClient},
		{"mutual", []int{14}, mutualGoServer, mutualGoClient, mutualNodeServer, mutualNodeClient},
	} {
		for _, lib := range c.libs {
			t.Run(fmt.Sprintf("%s/v%d/go-server", c.name, lib), func(t *testing.T) {
				ep := tlsEndpoint(t)
				got := make(chan string, 4)
				srv, err := nodeipc.NewServer("tls", ep.addr, goTLSConfig(c.goSrv))
				if err != nil {
					t.Fatal(err)
				}
				srv.On("message", func(m *nodeipc.Message) {
					got <- string(m.Data)
					_ = srv.Emit(m.Socket, "message", "hello over tls ☃")
				})
				if err := srv.Start(); err != nil {
					t.Fatal(err)
				}
				defer srv.Shutdown(context.Background())
				node := startPeer(t, ep.tlsOpts(lib, "client", c.nodeCli, []string{"message"}))
				node.expect("connect")
				node.send(map[string]any{"cmd": "emit", "type": "message", "data": map[string]any{"n": 1}})
				if d := within(t, got, "message at the Go server"); d != `{"n":1}` {
					t.Fatalf("Go server got %s", d)
				}
				if e := node.expect("event"); e.raw("data") != `"hello over tls ☃"` {
					t.Fatalf("node-ipc client got %v", e)
				}
			})
			t.Run(fmt.Sprintf("%s/v%d/node-server", c.name, lib), func(t *testing.T) {
				ep := tlsEndpoint(t)
				node := startPeer(t, ep.tlsOpts(lib, "server", c.nodeSrv, []string{"message"}))
				cl, err := nodeipc.NewClient("go", "tls", ep.addr, goTLSConfig(c.goCl))
				if err != nil {
					t.Fatal(err)
				}
				got := make(chan string, 4)
				connected := make(chan struct{}, 4)
				cl.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
				cl.On("message", func(m *nodeipc.Message) { got <- string(m.Data) })
				cl.Connect()
				defer cl.Close(context.Background())
				within(t, connected, "TLS connect")
				if err := cl.Emit("message", []int{1, 2}); err != nil {
					t.Fatal(err)
				}
				e := node.expect("event")
				if e.raw("data") != `[1,2]` {
					t.Fatalf("node-ipc server got %v", e)
				}
				node.send(map[string]any{"cmd": "emit", "sock": e["sock"], "type": "message", "data": "back"})
				if d := within(t, got, "reply at the Go client"); d != `"back"` {
					t.Fatalf("Go client got %s", d)
				}
			})
		}
	}
}

// UDP4 and UDP6: a Go UDP endpoint and a node-ipc UDP server exchange
// events both ways.
func TestUDPWithNodeIPC(t *testing.T) {
	for _, lib := range versions {
		for _, network := range []string{"udp4", "udp6"} {
			t.Run(fmt.Sprintf("v%d/%s", lib, network), func(t *testing.T) {
				host := "127.0.0.1"
				if network == "udp6" {
					host = "::1"
					if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
						t.Skip("no IPv6 loopback:", err)
					} else {
						pc.Close()
					}
				}
				port := freeUDPPort(t, network, host)
				node := startPeer(t, map[string]any{"lib": lib, "role": "server", "transport": network, "host": host, "port": port, "events": []string{"message"}})
				cfg := goConfig()
				goEnd, err := nodeipc.NewServer(network, net.JoinHostPort(host, "0"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				got := make(chan string, 4)
				goEnd.On("message", func(m *nodeipc.Message) { got <- string(m.Data) })
				if err := goEnd.Start(); err != nil {
					t.Fatal(err)
				}
				defer goEnd.Shutdown(context.Background())
				goPort := goEnd.Addr().(*net.UDPAddr).Port

				// node-ipc 9 and 10 report start before the socket is bound,
				// so the first datagram may come too early: resend until one
				// arrives (each is one complete frame).
				var e event
				for attempt := 0; e == nil; attempt++ {
					if attempt == 40 {
						t.Fatalf("node-ipc received nothing; stderr: %s", node.errText())
					}
					if err := goEnd.Emit(nodeipc.UDPPeer(host, port), "message", map[string]any{"from": "go", "text": "wörld"}); err != nil {
						t.Fatal(err)
					}
					e = node.poll("event", 250*time.Millisecond)
				}
				if !sameJSON(e.raw("data"), `{"from":"go","text":"wörld"}`) {
					t.Fatalf("node-ipc got %v", e)
				}
				peer, _ := e["peer"].(map[string]any)
				if p, _ := peer["port"].(float64); int(p) != goPort {
					t.Fatalf("node-ipc saw the datagram from %v, want port %d", peer, goPort)
				}
				node.send(map[string]any{"cmd": "emit", "peer": map[string]any{"address": host, "port": goPort}, "type": "message", "data": "from node"})
				select {
				case d := <-got:
					if d != `"from node"` {
						t.Fatalf("Go got %s", d)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no datagram from node-ipc; its stderr: %s", node.errText())
				}
			})
		}
	}
}

func freeUDPPort(t *testing.T, network, host string) int {
	t.Helper()
	pc, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// poll waits up to d for the next event named ev; nil if none came.
func (p *peer) poll(ev string, d time.Duration) event {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				return nil
			}
			if e.str("ev") == ev {
				return e
			}
		case <-timer.C:
			return nil
		}
	}
}
