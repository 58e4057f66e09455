package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

func newDemo(g *globals) *cobra.Command {
	var e endpoint
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A server and two clients on the default local socket, events both ways",
		Long: `Start a server on the default local socket (SocketRoot + AppSpace + "nodeipc-demo",
as node-ipc names it; a named pipe on Windows) and two clients, alice and bob. Each
client says hello; the server welcomes each one and, once both are in, broadcasts to
them; each client answers and leaves; the server sees them go and stops. Every event
is printed as it is received. Exits 0 when the exchange completed.`,
		Example: `  nodeipc demo
  nodeipc demo --json`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo(cmd.Context(), g, &e, cmd)
		},
	}
	cmd.Flags().StringVar(&e.appSpace, "appspace", nodeipc.DefaultAppSpace, "prefix of local socket names")
	cmd.Flags().StringVar(&e.root, "socket-root", "", "directory of local sockets (default: node-ipc 14's owner-only root)")
	return cmd
}

func demo(ctx context.Context, g *globals, e *endpoint, cmd *cobra.Command) error {
	p := newPrinter(g, cmd.OutOrStdout())
	cfg := e.baseConfig()
	cfg.Silent = true
	cfg.IdentifyPeer = true // node-ipc's data.id convention names the sockets
	path := cfg.LocalPath("nodeipc-demo")
	names := []string{"alice", "bob"}

	srv, err := nodeipc.NewServer("unix", path, &cfg)
	if err != nil {
		return failure("%w", err)
	}
	var mu sync.Mutex
	hellos, gone := 0, 0
	finished := make(chan struct{})
	recv := func(who string, m *nodeipc.Message) {
		from := "server"
		if m.Socket != nil {
			from = peerLabel(m.Socket)
		}
		p.print(line{At: who, Peer: from, Event: m.Type, Data: m.Data, kind: kindEvent})
	}
	note := func(at, event, peer string) { p.print(line{At: at, Peer: peer, Event: event, kind: kindNote}) }
	fail := func(at string, err error) {
		p.print(line{At: at, Event: "error", Code: string(errCode(err)), Text: describeNoCode(err), kind: kindError})
	}
	endpoint := "unix:" + path
	srv.On("connect", func(m *nodeipc.Message) { note("server", "connect", m.Socket.String()) })
	srv.On("hello", func(m *nodeipc.Message) {
		recv("server", m)
		var h struct{ ID string }
		_ = json.Unmarshal(m.Data, &h)
		mu.Lock()
		hellos++
		all := hellos == len(names)
		n := hellos
		mu.Unlock()
		_ = srv.Emit(m.Socket, "welcome", map[string]any{"to": h.ID, "clients": n})
		if all {
			_ = srv.Broadcast("news", map[string]any{"text": "everyone is here", "clients": n})
		}
	})
	srv.On("thanks", func(m *nodeipc.Message) { recv("server", m) })
	srv.On("socket.disconnected", func(m *nodeipc.Message) {
		note("server", "socket.disconnected", peerLabel(m.Socket))
		mu.Lock()
		gone++
		if gone == len(names) {
			close(finished)
		}
		mu.Unlock()
	})
	// An error of Start is returned (and printed once, on stderr).
	var started atomic.Bool
	srv.On("error", func(m *nodeipc.Message) {
		if started.Load() || m.Socket != nil {
			fail("server", m.Err)
		}
	})
	if err := srv.Start(); err != nil {
		return failure("%w", err)
	}
	started.Store(true)
	defer srv.Shutdown(context.Background())
	p.print(line{At: "server", Event: "listening", Endpoint: endpoint, kind: kindNote})

	var clients []*nodeipc.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close(context.Background())
		}
	}()
	for _, name := range names {
		ccfg := cfg
		ccfg.MaxRetries = 3
		c, err := nodeipc.NewClient(name, "unix", path, &ccfg)
		if err != nil {
			return failure("%w", err)
		}
		clients = append(clients, c)
		c.On("connect", func(*nodeipc.Message) {
			p.print(line{At: name, Event: "connect", Endpoint: endpoint, kind: kindNote})
			if err := c.Emit("hello", map[string]any{"id": name, "text": "hello from " + name}); err != nil {
				fail(name, err)
			}
		})
		c.On("welcome", func(m *nodeipc.Message) { recv(name, m) })
		c.On("news", func(m *nodeipc.Message) {
			recv(name, m)
			_ = c.Emit("thanks", map[string]any{"id": name})
			go c.Disconnect() // flushes the thanks, then leaves
		})
		c.On("error", func(m *nodeipc.Message) { fail(name, m.Err) })
		c.Connect()
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		return failure("the demo did not complete within 10s")
	case <-ctx.Done():
		return stopped(ctx)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return failure("%w", err)
	}
	p.print(line{At: "server", Event: "stopped", Text: fmt.Sprintf("%d clients came and went", len(names)), kind: kindNote})
	return nil
}

func peerLabel(s *nodeipc.Socket) string {
	if id := s.ID(); id != "" {
		return id
	}
	return s.String()
}
