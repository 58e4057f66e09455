package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

func newConnect(g *globals) *cobra.Command {
	var (
		e      endpoint
		linger time.Duration
		count  int
	)
	cmd := &cobra.Command{
		Use:   "connect [ID|PATH]",
		Short: "Connect, print what arrives, send JSON lines from stdin",
		Long: `Connect a client, print every event it receives, and send each line of stdin as
an event: {"type":"message","data":{"hello":"world"}} (data may be left out). In raw
mode each line is sent as bytes (with its newline), converted with --encoding.

The client reconnects as node-ipc's does (--retry, --max-retries; -1 retries
forever). When stdin ends, what was sent is flushed and the command exits after
--linger (or once --count events arrived). A malformed line stops it with exit
code 1; Ctrl-C with 130; a client that gives up connecting with 1.`,
		Example: `  nodeipc connect world                          # type JSON lines, see replies
  printf '{"type":"ping","data":1}\n' | nodeipc connect world --count 1
  nodeipc connect --tcp 127.0.0.1:8000 --max-retries 3 --json
  nodeipc connect --udp4 127.0.0.1:8001         # a UDP endpoint on an ephemeral port`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				e.local = args[0]
			}
			return connect(cmd.Context(), g, &e, cmd.InOrStdin(), cmd, linger, count)
		},
	}
	e.flags(cmd.Flags(), true)
	cmd.Flags().IntVar(&e.maxRetries, "max-retries", nodeipc.RetryForever, "reconnect attempts after the first (-1: forever, as node-ipc)")
	cmd.Flags().DurationVar(&linger, "linger", 0, "after stdin ends, keep printing for this long")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events arrived (0: when stdin ends)")
	return cmd
}

// peerEnd is what connect, emit and bench need of the other side: a client,
// or for UDP a local UDP endpoint sending to one address.
type peerEnd struct {
	client *nodeipc.Client
	udp    *nodeipc.Server
	to     *nodeipc.Socket
	target string
}

// dial builds the client (not yet connected) or the UDP endpoint (started).
func dial(e *endpoint, network, address string) (*peerEnd, error) {
	cfg, err := e.config(network)
	if err != nil {
		return nil, err
	}
	pe := &peerEnd{target: network + " " + address}
	if network == "udp4" || network == "udp6" {
		host, port, _ := net.SplitHostPort(address)
		p, _ := strconv.Atoi(port)
		local := "0.0.0.0:0"
		if network == "udp6" {
			local = "[::]:0"
		}
		pe.udp, err = nodeipc.NewServer(network, local, &cfg)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		pe.to = nodeipc.UDPPeer(host, p)
		return pe, nil
	}
	pe.client, err = nodeipc.NewClient(e.id, network, address, &cfg)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return pe, nil
}

func (pe *peerEnd) on(event string, h func(*nodeipc.Message)) {
	if pe.client != nil {
		pe.client.On(event, h)
	} else {
		pe.udp.On(event, h)
	}
}

func (pe *peerEnd) start() error {
	if pe.client != nil {
		pe.client.Connect()
		return nil
	}
	if err := pe.udp.Start(); err != nil {
		return failure("%v", err)
	}
	return nil
}

func (pe *peerEnd) emit(event string, data any) error {
	if pe.client != nil {
		return pe.client.Emit(event, data)
	}
	return pe.udp.Emit(pe.to, event, data)
}

// close flushes what was accepted and closes; it reports frames that could
// not be delivered.
func (pe *peerEnd) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if pe.client != nil {
		return pe.client.Close(ctx)
	}
	return pe.udp.Shutdown(ctx)
}

// watch reports the client giving up (gaveUp) and frames it could not send
// (unsent); with a printer it also prints connect, disconnect and errors.
func (pe *peerEnd) watch(p *printer) (gaveUp, unsent <-chan error) {
	up := make(chan error, 1)
	lost := make(chan error, 1)
	report := func(err error) {
		var ue *nodeipc.UnsentError
		if errors.As(err, &ue) || pe.client == nil {
			select {
			case lost <- err:
			default:
			}
		}
		if p != nil {
			p.err("", err)
		}
	}
	if pe.client == nil {
		pe.udp.On("error", func(m *nodeipc.Message) { report(m.Err) })
		return up, lost
	}
	var mu sync.Mutex
	var last error
	if p != nil {
		pe.client.On("connect", func(*nodeipc.Message) { p.note("", "connect", pe.target) })
		pe.client.On("disconnect", func(*nodeipc.Message) { p.note("", "disconnect", pe.target) })
	}
	pe.client.On("error", func(m *nodeipc.Message) {
		mu.Lock()
		last = m.Err
		mu.Unlock()
		report(m.Err)
	})
	pe.client.On("destroy", func(*nodeipc.Message) {
		mu.Lock()
		defer mu.Unlock()
		reason := "gave up reconnecting"
		if last != nil {
			reason = last.Error()
		}
		up <- failure("could not reach %s: %s", pe.target, reason)
	})
	return up, lost
}

// counter closes done once n events were counted (never when n is 0).
type counter struct {
	mu   sync.Mutex
	n    int
	done chan struct{}
}

func newCounter(n int) *counter { return &counter{n: n, done: make(chan struct{})} }

func (c *counter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		c.n--
		if c.n == 0 {
			close(c.done)
		}
	}
}

func peerName(s *nodeipc.Socket) string {
	if s == nil {
		return ""
	}
	return s.String()
}

func connect(ctx context.Context, g *globals, e *endpoint, in io.Reader, cmd *cobra.Command, linger time.Duration, count int) error {
	network, address, err := e.kind()
	if err != nil {
		return err
	}
	pe, err := dial(e, network, address)
	if err != nil {
		return err
	}
	p := newPrinter(g, cmd.OutOrStdout())
	cnt := newCounter(count)
	enough, counted := cnt.done, cnt.add
	if e.raw {
		pe.on("data", func(m *nodeipc.Message) { p.rawData(peerName(m.Socket), m.Data); counted() })
	} else {
		pe.on("*", func(m *nodeipc.Message) { p.event(peerName(m.Socket), m.Type, m.Data); counted() })
	}
	gaveUp, _ := pe.watch(p)
	if err := pe.start(); err != nil {
		return err
	}
	lines := make(chan error, 1)
	go func() { lines <- sendLines(pe, in, e.raw) }()

	var result error
	select {
	case <-ctx.Done():
		result = errInterrupted
	case result = <-gaveUp:
	case <-enough:
	case err := <-lines:
		if err != nil {
			result = err
			break
		}
		var timer <-chan time.Time
		if count == 0 {
			timer = time.After(linger)
		}
		select {
		case <-ctx.Done():
			result = errInterrupted
		case result = <-gaveUp:
		case <-enough:
		case <-timer:
		}
	}
	if err := pe.close(); err != nil && result == nil {
		result = failure("%v", err)
	}
	return result
}

// sendLines emits each line of in; the first malformed line ends it with
// an error naming the line.
func sendLines(pe *peerEnd, in io.Reader, raw bool) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			if raw {
				if err := pe.emit("", append([]byte(nil), text...)); err != nil {
					return failure("stdin line %d: %v", n, err)
				}
			} else if t := bytes.TrimSpace(text); len(t) > 0 {
				typ, data, perr := parseLine(t)
				if perr != nil {
					return failure("stdin line %d: %v", n, perr)
				}
				if err := pe.emit(typ, data); err != nil {
					return failure("stdin line %d: %v", n, err)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure("reading stdin: %v", err)
		}
	}
}

// parseLine reads {"type":EVENT,"data":JSON}.
func parseLine(b []byte) (string, any, error) {
	var v struct {
		Type *string         `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", nil, fmt.Errorf(`not a JSON object {"type":EVENT,"data":...}: %v`, err)
	}
	if v.Type == nil || *v.Type == "" {
		return "", nil, errors.New(`"type" is missing or empty`)
	}
	if v.Data == nil {
		return *v.Type, nil, nil
	}
	return *v.Type, v.Data, nil
}
