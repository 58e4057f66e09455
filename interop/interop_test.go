package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

var networks = []string{"unix", "tcp"}

// endpoint is where a server listens, in both spellings: Go's address and
// peer.mjs's options.
type endpoint struct {
	network string
	addr    string // socket path, or 127.0.0.1:port
	port    int
}

func newEndpoint(t testing.TB, network string) endpoint {
	t.Helper()
	if network == "unix" {
		return endpoint{network: "unix", addr: filepath.Join(shortDir(t), "app.sock")}
	}
	return endpoint{network: "tcp", addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), port: 0}
}

func (e endpoint) opts(lib int, role string, extra map[string]any) map[string]any {
	o := map[string]any{"lib": lib, "role": role, "transport": e.network, "id": "peer"}
	if e.network == "unix" {
		o["path"] = e.addr
	} else {
		host, port, _ := net.SplitHostPort(e.addr)
		o["host"] = host
		o["port"], _ = strconv.Atoi(port)
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func goConfig() *nodeipc.Config {
	c := nodeipc.DefaultConfig()
	c.Silent = true
	c.Retry = 50 * time.Millisecond
	c.FlushTimeout = 2 * time.Second
	return &c
}

func forEach(t *testing.T, fn func(t *testing.T, lib int, network string)) {
	for _, lib := range versions {
		for _, network := range networks {
			t.Run(fmt.Sprintf("v%d/%s", lib, network), func(t *testing.T) {
				t.Parallel()
				fn(t, lib, network)
			})
		}
	}
}

func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// sameJSON compares two JSON texts by value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func startGoServer(t *testing.T, ep endpoint, setup func(*nodeipc.Server)) *nodeipc.Server {
	t.Helper()
	return startServerWith(t, ep.network, ep.addr, goConfig(), setup)
}

// listenGo starts a Go server on network, at a fresh socket path or at a
// port the system picks on loopback (so that no other connection can take
// it first), and returns it with its endpoint.
func listenGo(t *testing.T, network string, cfg *nodeipc.Config, setup func(*nodeipc.Server)) (*nodeipc.Server, endpoint) {
	t.Helper()
	ep := endpoint{network: "tcp", addr: "127.0.0.1:0"}
	if network == "unix" {
		ep = newEndpoint(t, network)
	}
	srv := startServerWith(t, ep.network, ep.addr, cfg, setup)
	if network == "tcp" {
		ep.addr = srv.Addr().String()
	}
	return srv, ep
}

func startGoClient(t *testing.T, ep endpoint, setup func(*nodeipc.Client)) (*nodeipc.Client, chan struct{}) {
	t.Helper()
	return startClientWith(t, ep.network, ep.addr, goConfig(), setup)
}

// startServerWith starts a nodeipc server set up by setup, shut down when
// the test ends.
func startServerWith(t *testing.T, network, addr string, cfg *nodeipc.Config, setup func(*nodeipc.Server)) *nodeipc.Server {
	t.Helper()
	srv, err := nodeipc.NewServer(network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	setup(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// startClientWith connects a nodeipc client set up by setup, closed when
// the test ends; the channel gets a value per connect (never blocking the
// client when nobody takes them).
func startClientWith(t *testing.T, network, addr string, cfg *nodeipc.Config, setup func(*nodeipc.Client)) (*nodeipc.Client, chan struct{}) {
	t.Helper()
	c, err := nodeipc.NewClient("go", network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 8)
	c.On("connect", func(*nodeipc.Message) {
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	if setup != nil {
		setup(c)
	}
	c.Connect()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, connected
}

// Go server, node-ipc clients: events each way, unicast and broadcast to
// two clients, socket.disconnected when one leaves.
func TestGoServerWithNodeIPCClients(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		got := make(chan *nodeipc.Message, 16)
		gone := make(chan struct{}, 4)
		srv, ep := listenGo(t, network, goConfig(), func(s *nodeipc.Server) {
			s.On("message", func(m *nodeipc.Message) {
				got <- m
				if err := s.Emit(m.Socket, "reply", m.Data); err != nil {
					t.Error(err)
				}
			})
			s.On("socket.disconnected", func(*nodeipc.Message) { gone <- struct{}{} })
		})
		events := []string{"reply", "news"}
		a := startPeer(t, ep.opts(lib, "client", map[string]any{"events": events}))
		a.expect("connect")
		b := startPeer(t, ep.opts(lib, "client", map[string]any{"events": events}))
		b.expect("connect")
		for i, p := range []*peer{a, b} {
			data := map[string]any{"from": i, "text": "héllo <&> \u2028 \f"}
			want, _ := json.Marshal(data)
			p.send(map[string]any{"cmd": "emit", "type": "message", "data": data})
			m := within(t, got, "message at the Go server")
			if !sameJSON(string(m.Data), string(want)) {
				t.Fatalf("Go server got %s, want %s", m.Data, want)
			}
			r := p.expect("event")
			if r.str("type") != "reply" || !sameJSON(r.raw("data"), string(want)) {
				t.Fatalf("node-ipc client got %v", r)
			}
		}
		if err := srv.Broadcast("news", []any{"all", 2}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*peer{a, b} {
			r := p.expect("event")
			if r.str("type") != "news" || r.raw("data") != `["all",2]` {
				t.Fatalf("broadcast: node-ipc client got %v", r)
			}
		}
		a.send(map[string]any{"cmd": "disconnect"})
		within(t, gone, "socket.disconnected")
		if n := len(srv.Sockets()); n != 1 {
			t.Fatalf("%d sockets after one client left, want 1", n)
		}
	})
}

// node-ipc server, Go clients: the same, the other way round.
func TestNodeIPCServerWithGoClients(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		node := startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"message"}}))
		var clients []*nodeipc.Client
		replies := make(chan string, 16)
		for i := range 2 {
			c, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
				c.On("reply", func(m *nodeipc.Message) { replies <- fmt.Sprintf("%d:reply:%s", i, m.Data) })
				c.On("news", func(m *nodeipc.Message) { replies <- fmt.Sprintf("%d:news:%s", i, m.Data) })
			})
			within(t, connected, "connect")
			node.expect("connect")
			clients = append(clients, c)
		}
		for i, c := range clients {
			data := map[string]any{"from": i, "text": "wörld ☃"}
			want, _ := json.Marshal(data)
			if err := c.Emit("message", data); err != nil {
				t.Fatal(err)
			}
			e := node.expect("event")
			if e.str("type") != "message" || !sameJSON(e.raw("data"), string(want)) {
				t.Fatalf("node-ipc server got %v", e)
			}
			node.send(map[string]any{"cmd": "emit", "sock": e["sock"], "type": "reply", "data": i})
			if got := within(t, replies, "reply"); got != fmt.Sprintf("%d:reply:%d", i, i) {
				t.Fatalf("got %s", got)
			}
		}
		node.send(map[string]any{"cmd": "broadcast", "type": "news", "data": "all"})
		seen := map[string]bool{within(t, replies, "news"): true, within(t, replies, "news"): true}
		if !seen[`0:news:"all"`] || !seen[`1:news:"all"`] {
			t.Fatalf("broadcast reached %v", seen)
		}
		if err := clients[0].Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		node.expect("socket.disconnected")
	})
}

// shapes are payloads with their JSON text. Objects have sorted keys, so a
// Go map encodes them in the order JavaScript keeps.
var shapes = []string{
	`"plain"`,
	`"non-ASCII é☃😀, escapes \" \\ \n \t \f \u0001, U+2028 \u2028 U+2029 \u2029, <>&"`,
	`0`, `-1.5`, `1e+21`, `0.000001`, `123456789`, `true`, `false`, `null`, `""`,
	`[]`, `[1,"two",null,{"a":[true]}]`,
	`{}`, `{"a":{"b":{"c":[1,2,{"d":"deep"}]}},"z":-0.25}`,
}

func mebibyteShape() string {
	return `"` + strings.Repeat("x", 1<<20) + `"`
}

// legacyNormalised is what node-ipc 9/10 put on the wire for data.
func legacyNormalised(lib int, shape string) string {
	if lib < 14 && (shape == `null` || shape == `""`) {
		return `{}`
	}
	return shape
}

func TestPayloadShapesFromGoToNodeIPC(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		node := startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"shape"}}))
		c, connected := startGoClient(t, ep, nil)
		within(t, connected, "connect")
		for _, s := range append(shapes, mebibyteShape()) {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatal(err)
			}
			if v == nil {
				v = json.RawMessage("null") // Go's nil means omitted data
			}
			if err := c.Emit("shape", v); err != nil {
				t.Fatal(err)
			}
			e := node.expect("event")
			if !sameJSON(e.raw("data"), s) {
				t.Fatalf("node-ipc got %.100s, want %.100s", e.raw("data"), s)
			}
		}
	})
}

func TestPayloadShapesFromNodeIPCToGo(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		node := startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"hello"}}))
		got := make(chan string, 64)
		c, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
			c.On("shape", func(m *nodeipc.Message) { got <- string(m.Data) })
		})
		within(t, connected, "connect")
		node.expect("connect")
		_ = c
		for _, s := range append(shapes, mebibyteShape()) {
			node.send(map[string]any{"cmd": "emit", "sock": 1, "type": "shape", "data": json.RawMessage(s)})
			if g := within(t, got, "shape"); !sameJSON(g, legacyNormalised(lib, s)) {
				t.Fatalf("Go got %.100s, want %.100s", g, legacyNormalised(lib, s))
			}
		}
		// Omitted data arrives as {} from every version.
		node.send(map[string]any{"cmd": "emit", "sock": 1, "type": "shape", "undef": true})
		if g := within(t, got, "omitted data"); g != "{}" {
			t.Fatalf("omitted data arrived as %s", g)
		}
	})
}

// A burst of 10,000 events arrives complete and in order, both ways.
func TestBurstOf10000BothWays(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		const n = 10000
		ep := newEndpoint(t, network)
		node := startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"seq"}}))
		next := 0
		done := make(chan error, 1)
		c, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
			c.On("seq", func(m *nodeipc.Message) {
				var v struct{ Seq int }
				if err := m.Decode(&v); err != nil || v.Seq != next {
					done <- fmt.Errorf("got %s, want seq %d", m.Data, next)
					return
				}
				if next++; next == n {
					done <- nil
				}
			})
		})
		within(t, connected, "connect")
		node.expect("connect")
		node.send(map[string]any{"cmd": "burst", "type": "seq", "count": n, "sock": 1})
		if err := within(t, done, "node-ipc burst"); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := c.Emit("seq", map[string]int{"seq": i}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			e := node.expect("event")
			if e.raw("data") != fmt.Sprintf(`{"seq":%d}`, i) {
				t.Fatalf("node-ipc got %s at %d", e.raw("data"), i)
			}
		}
	})
}

// The frames nodeipc writes are byte for byte those node-ipc 14 writes for
// the same values.
func TestFramesAreByteIdenticalToNodeIPC14(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ep := newEndpoint(t, network)
			var ln net.Listener
			var err error
			if network == "unix" {
				ln, err = net.Listen("unix", ep.addr)
			} else {
				ln, err = net.Listen("tcp", ep.addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conns := make(chan net.Conn, 1)
			go func() {
				if c, err := ln.Accept(); err == nil {
					conns <- c
				}
			}()
			node := startPeer(t, ep.opts(14, "client", nil))
			node.expect("connect")
			var want []byte
			all := append(shapes, mebibyteShape())
			for _, s := range all {
				node.send(map[string]any{"cmd": "emit", "type": "shape", "data": json.RawMessage(s)})
				var v any
				_ = json.Unmarshal([]byte(s), &v)
				if s == "null" {
					v = json.RawMessage("null") // Go's nil means omitted
				}
				f, err := nodeipc.EncodeFrame("shape", v)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, f...)
			}
			node.send(map[string]any{"cmd": "emit", "type": "omitted", "undef": true})
			f, _ := nodeipc.EncodeFrame("omitted", nil)
			want = append(want, f...)
			node.sync()
			// node-ipc's disconnect drops what it has not flushed, so read
			// until every expected byte is here instead.
			conn := within(t, conns, "node-ipc connection")
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			got := make([]byte, len(want))
			if n, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("read %d of %d bytes: %v", n, len(want), err)
			}
			if string(got) != string(want) {
				gf := bytes.Split(bytes.TrimSuffix(got, []byte("\f")), []byte("\f"))
				wf := bytes.Split(bytes.TrimSuffix(want, []byte("\f")), []byte("\f"))
				for i := range min(len(gf), len(wf)) {
					if string(gf[i]) != string(wf[i]) {
						t.Fatalf("frame %d differs:\nnode-ipc %.200q\nnodeipc  %.200q", i, gf[i], wf[i])
					}
				}
				t.Fatalf("%d frames from node-ipc, %d from nodeipc", len(gf), len(wf))
			}
		})
	}
}

// A Go client reconnects when the node-ipc server restarts, and what it
// emitted meanwhile arrives, in order.
func TestGoClientReconnectsToRestartedNodeIPCServer(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		opts := ep.opts(lib, "server", map[string]any{"events": []string{"n"}})
		node := startPeer(t, opts)
		disconnected := make(chan struct{}, 8)
		c, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
			c.On("disconnect", func(*nodeipc.Message) {
				// One per failed attempt while the server is down: never block the client.
				select {
				case disconnected <- struct{}{}:
				default:
				}
			})
		})
		within(t, connected, "connect")
		_ = c.Emit("n", 0)
		node.expect("event")
		node.send(map[string]any{"cmd": "exit"})
		within(t, disconnected, "disconnect")
		for i := 1; i <= 50; i++ {
			if err := c.Emit("n", i); err != nil {
				t.Fatalf("emit while the server is down: %v", err)
			}
		}
		node2 := startPeer(t, opts)
		within(t, connected, "reconnect")
		for i := 1; i <= 50; i++ {
			e := node2.expect("event")
			if e.raw("data") != fmt.Sprint(i) {
				t.Fatalf("restarted node-ipc server got %s, want %d", e.raw("data"), i)
			}
		}
	})
}

// node-ipc 14's default (fast) profile delivers events named like
// lifecycle events (`data`, `error`). A Go client in the fast profile
// refuses that frame alone, with ERR_IPC_RESERVED_EVENT, and stays
// connected: the next event arrives.
func TestNodeIPC14ServerEmittingReservedNamesToAGoClient(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ep := newEndpoint(t, network)
			node := startPeer(t, ep.opts(14, "server", nil))
			events := make(chan string, 16)
			_, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
				c.On("error", func(m *nodeipc.Message) {
					var pe *nodeipc.ProtocolError
					if errors.As(m.Err, &pe) {
						events <- string("error " + pe.Code)
					} else {
						events <- "error " + m.Err.Error()
					}
				})
				c.On("message", func(m *nodeipc.Message) { events <- "message " + string(m.Data) })
				c.On("disconnect", func(*nodeipc.Message) { events <- "disconnect" })
			})
			within(t, connected, "connect")
			node.expect("connect")
			for _, name := range []string{"data", "error"} {
				node.send(map[string]any{"cmd": "broadcast", "type": name, "data": map[string]any{"x": 1}})
				node.send(map[string]any{"cmd": "broadcast", "type": "message", "data": "after " + name})
				if got := within(t, events, "the refusal"); got != "error "+string(nodeipc.CodeReservedEvent) {
					t.Fatalf("got %q, want the refusal of %q", got, name)
				}
				if got := within(t, events, "the next event"); got != `message "after `+name+`"` {
					t.Fatalf("got %q after the refused %q", got, name)
				}
			}
			select {
			case e := <-events:
				t.Fatalf("unexpected %q", e)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}
