package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
	)
	cmd := &cobra.Command{
		Use:   "serve [ID|PATH]",
		Short: "Run a server and print every event it receives",
		Long: `Run a node-ipc server on any transport and print every event it receives (time,
peer, event, data), every connection and disconnection, and every error. With --echo
each event goes back to its sender; with --replies a script of JSON lines answers:

  {"on":"ping","type":"pong","data":{"ok":true}}
  {"on":"job","type":"job.accepted"}            (no data: the received data is sent back)

Stop with Ctrl-C (exit code 130), or after --count events (exit code 0).`,
		Example: `  nodeipc serve world --echo               # local socket SocketRoot + "app." + "world"
  nodeipc serve /tmp/app.world             # an explicit socket path (node-ipc 9/10's default place)
  nodeipc serve --tcp :8000 --json         # TCP, JSON lines out
  nodeipc serve --tls :8443 --cert server.pem --key server-key.pem --ca ca.pem
  nodeipc serve --udp4 :8001 --echo
  nodeipc serve world --raw --encoding hex`,
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
			return serve(cmd.Context(), g, &e, echo, rules, count, cmd)
		},
	}
	e.flags(cmd.Flags(), false)
	cmd.Flags().BoolVar(&echo, "echo", false, "send every event back to its sender")
	cmd.Flags().StringVar(&replies, "replies", "", "answer events from a script of JSON lines `FILE`")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until Ctrl-C)")
	return cmd
}

func readReplies(path string) ([]reply, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("--replies: %v", err)
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

func serve(ctx context.Context, g *globals, e *endpoint, echo bool, rules []reply, count int, cmd *cobra.Command) error {
	network, address, err := e.kind()
	if err != nil {
		return err
	}
	cfg, err := e.config(network)
	if err != nil {
		return err
	}
	srv, err := nodeipc.NewServer(network, address, &cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	p := newPrinter(g, cmd.OutOrStdout())
	cnt := newCounter(count)
	enough, counted := cnt.done, cnt.add
	answer := func(m *nodeipc.Message) {
		if echo {
			if err := srv.Emit(m.Socket, m.Type, m.Data); err != nil {
				p.err(m.Socket.String(), fmt.Errorf("echo: %w", err))
			}
		}
		for _, r := range rules {
			if r.On != m.Type {
				continue
			}
			data := m.Data
			if r.Data != nil {
				data = r.Data
			}
			if err := srv.Emit(m.Socket, r.Type, data); err != nil {
				p.err(m.Socket.String(), fmt.Errorf("reply %s: %w", r.Type, err))
			}
		}
	}
	if e.raw {
		srv.On("data", func(m *nodeipc.Message) {
			p.rawData(m.Socket.String(), m.Data)
			if echo {
				if err := srv.Emit(m.Socket, "", []byte(m.Data)); err != nil {
					p.err(m.Socket.String(), fmt.Errorf("echo: %w", err))
				}
			}
			counted()
		})
	} else {
		srv.On("*", func(m *nodeipc.Message) {
			p.event(m.Socket.String(), m.Type, m.Data)
			answer(m)
			counted()
		})
	}
	srv.On("connect", func(m *nodeipc.Message) { p.note(m.Socket.String(), "connect", "") })
	srv.On("socket.disconnected", func(m *nodeipc.Message) { p.note(m.Socket.String(), "socket.disconnected", "") })
	srv.On("error", func(m *nodeipc.Message) {
		peer := ""
		if m.Socket != nil {
			peer = m.Socket.String()
		}
		p.err(peer, m.Err)
	})
	if err := srv.Start(); err != nil {
		return failure("%v", err)
	}
	where := address
	if a := srv.Addr(); a != nil {
		where = a.String()
	}
	p.note("", "listening", network+" "+where)
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
		return errInterrupted
	}
	return nil
}

func errCode(err error) string {
	var pe *nodeipc.ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
