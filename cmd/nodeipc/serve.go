package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

// reply is one rule of a --replies script: when an event named On arrives,
// send Type with Data back to its sender (the received data when Data is
// absent).
type reply struct {
	On   string          `json:"on"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func newServe(g *globals) *cobra.Command {
	var (
		e       endpoint
		echo    bool
		replies string
		count   int
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "serve [ID|PATH]",
		Short: "Run a server and print every event it receives",
		Long: `Run a node-ipc server on any transport and print every event it receives (time,
peer, event, data), every connection and disconnection, and every error. With --echo
each event goes back to its sender; with --replies a script of JSON lines answers:

  {"on":"ping","type":"pong","data":{"ok":true}}
  {"on":"job","type":"job.accepted"}            (no data: the received data is sent back)

With --quiet it prints only that it is listening and the errors: nothing per event or
connection (for a server under load).

Stop with Ctrl-C (exit code 130) or SIGTERM (143): connections are closed and the
socket file is removed. With --count it stops after that many events (exit code 0).`,
		Example: `  nodeipc serve world --echo               # local socket SocketRoot + "app." + "world"
  nodeipc serve /tmp/app.world             # an explicit socket path (node-ipc 9/10's default place)
  nodeipc serve --tcp :8000 --json         # TCP, JSON lines out
  nodeipc serve --tls :8443 --cert server.pem --key server-key.pem --ca ca.pem
  nodeipc serve --udp4 :8001 --echo
  nodeipc serve world --raw --encoding hex
  nodeipc serve world --echo --quiet --max-message 64MiB --max-pending 256MiB`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				e.local = args[0]
			}
			var rules []reply
			if replies != "" {
				var err error
				if rules, err = readReplies(replies); err != nil {
					return err
				}
			}
			return serve(cmd.Context(), g, &e, serveOpts{echo, rules, count, quiet}, cmd)
		},
	}
	e.flags(cmd, false)
	cmd.Flags().BoolVar(&echo, "echo", false, "send every event back to its sender")
	cmd.Flags().StringVar(&replies, "replies", "", "answer events from a script of JSON lines `FILE`")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until Ctrl-C)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing per event or connection: only listening and errors")
	return cmd
}

func readReplies(path string) ([]reply, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("--replies: %w", err)
	}
	defer f.Close()
	var rules []reply
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, usageErr("--replies %s line %d: %v", path, n, err)
		}
		if r.On == "" || r.Type == "" {
			return nil, usageErr(`--replies %s line %d: want {"on":EVENT,"type":EVENT[,"data":JSON]}`, path, n)
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr("--replies %s: %v", path, err)
	}
	return rules, nil
}

// serveOpts are serve's own flags.
type serveOpts struct {
	echo  bool
	rules []reply
	count int
	quiet bool
}

func serve(ctx context.Context, g *globals, e *endpoint, o serveOpts, cmd *cobra.Command) error {
	network, address, err := e.kind()
	if err != nil {
		return err
	}
	cfg, err := e.config(network)
	if err != nil {
		return err
	}
	if network == "tls" && (len(e.cert) == 0 || len(e.key) == 0) {
		return usageErr("serve --tls needs --cert and --key (PEM files)")
	}
	srv, err := nodeipc.NewServer(network, address, &cfg)
	if err != nil {
		return usageErr("%w", err)
	}
	p := newPrinter(g, cmd.OutOrStdout())
	cnt := newCounter(o.count)
	enough, counted := cnt.done, cnt.add
	// send answers m; a peer that left meanwhile is not an error.
	send := func(m *nodeipc.Message, what, event string, data any) {
		if err := srv.Emit(m.Socket, event, data); err != nil && !peerGone(err) {
			p.err(m.Socket.String(), fmt.Errorf("%s: %w", what, err))
		}
	}
	answer := func(m *nodeipc.Message) {
		if o.echo {
			send(m, "echo", m.Type, m.Data)
		}
		for _, r := range o.rules {
			if r.On != m.Type {
				continue
			}
			data := m.Data
			if r.Data != nil {
				data = r.Data
			}
			send(m, "reply "+r.Type, r.Type, data)
		}
	}
	if e.raw {
		srv.On("data", func(m *nodeipc.Message) {
			if !o.quiet {
				p.rawData(m.Socket.String(), m.Data)
			}
			if o.echo {
				send(m, "echo", "", []byte(m.Data))
			}
			counted()
		})
	} else {
		srv.On("*", func(m *nodeipc.Message) {
			if !o.quiet {
				p.event(m.Socket.String(), m.Type, m.Data)
			}
			answer(m)
			counted()
		})
	}
	if !o.quiet {
		srv.On("connect", func(m *nodeipc.Message) { p.note(m.Socket.String(), "connect", "") })
		srv.On("socket.disconnected", func(m *nodeipc.Message) { p.note(m.Socket.String(), "socket.disconnected", "") })
	}
	// An error of Start is returned (and printed once, on stderr); a peer
	// that closes or resets its connection is not an error.
	var started atomic.Bool
	srv.On("error", func(m *nodeipc.Message) {
		peer := ""
		if m.Socket != nil {
			peer = m.Socket.String()
		}
		if (peer == "" && !started.Load()) || (peer != "" && peerGone(m.Err)) {
			return
		}
		p.err(peer, m.Err)
	})
	if err := srv.Start(); err != nil {
		return failure("%w", err)
	}
	started.Store(true)
	where := address
	if a := srv.Addr(); a != nil {
		where = a.String()
	}
	p.print(line{Event: "listening", Endpoint: network + ":" + where, kind: kindNote})
	select {
	case <-ctx.Done():
	case <-enough:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		p.err("", err)
	}
	if ctx.Err() != nil {
		return stopped(ctx)
	}
	return nil
}
