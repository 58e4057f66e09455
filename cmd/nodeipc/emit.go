package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
		Use:   "emit [ID|PATH] EVENT[=DATA]...",
		Short: "Connect, send events, optionally wait for a reply, exit",
		Long: `Connect, send one or more events in order, and exit once they are written. Each
argument is an event and its data:

  EVENT              no data
  EVENT=JSON         the data, inline: 'job={"id":7}' (a string is '"text"')
  EVENT=@FILE        the data is the JSON in FILE (for data too large for an argument)
  EVENT=-            the data is the JSON read from stdin (one argument at most)

In raw mode each argument is bytes: TEXT (converted with --encoding), @FILE (the
file's bytes as they are) or - (stdin's bytes).

With --wait the command waits for that event, prints it and exits 0, or exits 3
after --timeout. An event that was not sent ends it with exit code 1, saying how
many and why; a limit that refuses one names the flag that raises it
(--max-message, --max-pending).

For a local endpoint the first argument is its id or path; with --tcp, --tls,
--udp4 or --udp6 every argument is an event.`,
		Example: `  nodeipc emit world 'message={"hello":"world"}'
  nodeipc emit world ping --wait pong --timeout 2s
  nodeipc emit --tcp :8000 'job={"id":7}' 'job={"id":8}'
  nodeipc emit world job=@job.json --max-message 16MiB --max-pending 64MiB
  generate-job | nodeipc emit world job=-
  nodeipc emit /tmp/app.world --raw --encoding hex 056d5c`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("emit needs an endpoint and at least one EVENT[=DATA] (see --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.tcp == "" && e.tls == "" && e.udp4 == "" && e.udp6 == "" {
				e.local, args = args[0], args[1:]
			}
			if len(args) == 0 {
				return usageErr("emit needs at least one EVENT[=DATA] to send")
			}
			return emit(cmd.Context(), g, &e, args, wait, timeout, cmd)
		},
	}
	e.flags(cmd, true)
	cmd.Flags().IntVar(&e.maxRetries, "max-retries", 0, "reconnect attempts after the first")
	cmd.Flags().StringVar(&wait, "wait", "", "wait for this reply `EVENT` and print it")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the connection and the reply")
	return cmd
}

type outgoing struct {
	label string // how errors name it
	event string
	data  any
}

// parseEvents reads the arguments; @FILE and - are read here, before
// connecting.
func parseEvents(args []string, raw bool, stdin io.Reader) ([]outgoing, error) {
	out := make([]outgoing, 0, len(args))
	stdinUsed := false
	// load reads @FILE or - (stdin); ok is false for any other value.
	load := func(a, v string) (b []byte, ok bool, err error) {
		switch {
		case v == "-":
			if stdinUsed {
				return nil, true, usageErr("%q: only one argument can read stdin (-)", a)
			}
			stdinUsed = true
			if f, ok := stdin.(*os.File); ok && isTerminal(f) {
				fmt.Fprintf(os.Stderr, "nodeipc: reading the data of %s from the terminal; %s ends it\n", a, endOfInput)
			}
			b, err = io.ReadAll(stdin)
			if err != nil {
				return nil, true, failure("%s: reading stdin: %w", a, err)
			}
			return b, true, nil
		case strings.HasPrefix(v, "@") && len(v) > 1:
			b, err = os.ReadFile(v[1:])
			if err != nil {
				return nil, true, failure("%s: %w", a, err)
			}
			return b, true, nil
		}
		return nil, false, nil
	}
	for i, a := range args {
		if raw {
			b, ok, err := load(a, a)
			switch {
			case err != nil:
				return nil, err
			case ok && len(b) == 0:
				return nil, usageErr("%s: no bytes to send", a)
			case ok:
				out = append(out, outgoing{label: a, data: b})
			default:
				out = append(out, outgoing{label: fmt.Sprintf("argument %d", i+1), data: a})
			}
			continue
		}
		name, data, hasData := strings.Cut(a, "=")
		if name == "" {
			return nil, usageErr("%q: the event name is empty (want EVENT or EVENT=DATA)", a)
		}
		o := outgoing{label: name, event: name}
		if hasData {
			b, ok, err := load(a, data)
			if err != nil {
				return nil, err
			}
			if !ok {
				b = []byte(data)
			}
			if err := checkJSON(b); err != nil {
				what := "the data"
				if ok {
					what = strings.TrimPrefix(data, "@")
					if data == "-" {
						what = "stdin"
					}
				}
				return nil, usageErr("%s: %s is not JSON (%v; a string is written '\"text\"')", a, what, err)
			}
			o.data = json.RawMessage(b)
		}
		out = append(out, o)
	}
	return out, nil
}

// checkJSON says where b stops being one JSON value.
func checkJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%v at byte %d", err, se.Offset)
		}
		return err
	}
	return errors.New("not one JSON value")
}

func emit(ctx context.Context, g *globals, e *endpoint, args []string, wait string, timeout time.Duration, cmd *cobra.Command) error {
	network, address, err := e.kind()
	if err != nil {
		return err
	}
	events, err := parseEvents(args, e.raw, cmd.InOrStdin())
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
	s := pe.follow(nil)
	if err := pe.start(); err != nil {
		return err
	}
	select {
	case <-s.up:
	case <-s.ended:
		_ = pe.close()
		return s.result(s.why())
	case <-time.After(timeout):
		_ = pe.close()
		err := fmt.Errorf("could not connect to %s within %v", pe.target, timeout)
		if last := s.failed(); last != nil {
			err = fmt.Errorf("%w (the last attempt: %w)", err, last)
		}
		return &exitError{exitTimeout, err}
	case <-ctx.Done():
		pe.abandon()
		_ = pe.close()
		return stopped(ctx)
	}
	for _, ev := range events {
		if err := pe.emit(ev.event, ev.data); err != nil {
			_ = pe.close()
			return s.result(failure("%s: %w", ev.label, err))
		}
	}
	if wait == "" {
		// Close writes what Emit accepted; frames it could not write are
		// counted by the session.
		if err := pe.close(); err != nil {
			return s.result(failure("closing: %w", err))
		}
		if err := s.failed(); err != nil && pe.client == nil {
			return s.result(failure("%w", err))
		}
		return s.result(nil)
	}
	var result error
	select {
	case m := <-reply:
		if e.raw {
			p.rawData(peerName(m.Socket), m.Data)
		} else {
			p.event(peerName(m.Socket), m.Type, m.Data)
		}
	case <-s.ended:
		result = s.why()
	case <-time.After(timeout):
		result = &exitError{exitTimeout, fmt.Errorf("no %q within %v from %s", wait, timeout, pe.target)}
	case <-ctx.Done():
		result = stopped(ctx)
		pe.abandon()
	}
	_ = pe.close()
	return s.result(result)
}
