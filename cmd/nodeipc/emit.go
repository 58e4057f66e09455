package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

func newEmit(g *globals) *cobra.Command {
	var (
		e       endpoint
		wait    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "emit [ID|PATH] EVENT[=JSON]...",
		Short: "Connect, send events, optionally wait for a reply, exit",
		Long: `Connect, send one or more events in order, and exit once they are written.
Each event is EVENT or EVENT=JSON (the data; a string is '"text"'). With --wait the
command waits for that event, prints it and exits 0, or exits 3 after --timeout.
In raw mode each argument is sent as bytes, converted with --encoding.

For a local endpoint the first argument is its id or path; with --tcp, --tls,
--udp4 or --udp6 every argument is an event.`,
		Example: `  nodeipc emit world 'message={"hello":"world"}'
  nodeipc emit world ping --wait pong --timeout 2s
  nodeipc emit --tcp :8000 'job={"id":7}' 'job={"id":8}'
  nodeipc emit /tmp/app.world --raw --encoding hex 056d5c`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("emit needs an endpoint and at least one EVENT[=JSON] (see --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.tcp == "" && e.tls == "" && e.udp4 == "" && e.udp6 == "" {
				e.local, args = args[0], args[1:]
			}
			if len(args) == 0 {
				return usageErr("emit needs at least one EVENT[=JSON] to send")
			}
			return emit(cmd.Context(), g, &e, args, wait, timeout, cmd)
		},
	}
	e.flags(cmd.Flags(), true)
	cmd.Flags().IntVar(&e.maxRetries, "max-retries", 0, "reconnect attempts after the first")
	cmd.Flags().StringVar(&wait, "wait", "", "wait for this reply `EVENT` and print it")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the connection and the reply")
	return cmd
}

type outgoing struct {
	event string
	data  any
}

func parseEvents(args []string, raw bool) ([]outgoing, error) {
	out := make([]outgoing, 0, len(args))
	for _, a := range args {
		if raw {
			out = append(out, outgoing{data: a})
			continue
		}
		name, data, hasData := strings.Cut(a, "=")
		if name == "" {
			return nil, usageErr("%q: the event name is empty (want EVENT or EVENT=JSON)", a)
		}
		o := outgoing{event: name}
		if hasData {
			if !json.Valid([]byte(data)) {
				return nil, usageErr("%q: the data is not JSON (a string is written '\"text\"')", a)
			}
			o.data = json.RawMessage(data)
		}
		out = append(out, o)
	}
	return out, nil
}

func emit(ctx context.Context, g *globals, e *endpoint, args []string, wait string, timeout time.Duration, cmd *cobra.Command) error {
	network, address, err := e.kind()
	if err != nil {
		return err
	}
	events, err := parseEvents(args, e.raw)
	if err != nil {
		return err
	}
	pe, err := dial(e, network, address)
	if err != nil {
		return err
	}
	p := newPrinter(g, cmd.OutOrStdout())
	reply := make(chan *nodeipc.Message, 1)
	if wait != "" {
		name := wait
		if e.raw {
			name = "data"
		}
		pe.on(name, func(m *nodeipc.Message) {
			select {
			case reply <- m:
			default:
			}
		})
	}
	gaveUp, unsent := pe.watch(nil)
	connected := make(chan struct{})
	if pe.client != nil {
		var once sync.Once
		pe.client.On("connect", func(*nodeipc.Message) { once.Do(func() { close(connected) }) })
	} else {
		close(connected) // UDP has no connection
	}
	if err := pe.start(); err != nil {
		return err
	}
	select {
	case <-connected:
	case err := <-gaveUp:
		return err
	case <-time.After(timeout):
		_ = pe.close()
		return &exitError{exitTimeout, fmt.Errorf("could not connect to %s within %v", pe.target, timeout)}
	case <-ctx.Done():
		_ = pe.close()
		return errInterrupted
	}
	for _, ev := range events {
		if err := pe.emit(ev.event, ev.data); err != nil {
			_ = pe.close()
			return failure("%s: %v", ev.event, err)
		}
	}
	if wait == "" {
		// Close flushes what Emit accepted; frames it could not write come
		// back as an error event.
		if err := pe.close(); err != nil {
			return failure("%v", err)
		}
		select {
		case err := <-unsent:
			return failure("%v", err)
		default:
		}
		return nil
	}
	defer pe.close()
	select {
	case m := <-reply:
		if e.raw {
			p.rawData(peerName(m.Socket), m.Data)
		} else {
			p.event(peerName(m.Socket), m.Type, m.Data)
		}
		return nil
	case err := <-gaveUp:
		return err
	case <-time.After(timeout):
		return &exitError{exitTimeout, fmt.Errorf("no %q within %v from %s", wait, timeout, pe.target)}
	case <-ctx.Done():
		return errInterrupted
	}
}
