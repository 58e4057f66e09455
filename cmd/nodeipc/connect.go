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
	"os"
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
		Short: "Connect, print what arrives, send each line of stdin as an event",
		Long: `Connect a client, print every event it receives, and send each line of stdin as
an event, written either way:

  ping {"n":1}                             EVENT JSON (the data)
  ping                                     EVENT alone: no data
  {"type":"ping","data":{"n":1}}           node-ipc's envelope ("data" may be left out)

In raw mode each line is sent as bytes (with its newline), converted with --encoding.

While the server is not there it says "waiting for ENDPOINT ..." once, and
"connected to ENDPOINT" when it is; it reconnects as node-ipc's client does
(--retry, --max-retries; -1 retries forever). When stdin ends, the command waits
for the connection if need be, writes what was sent, and exits after --linger (or
once --count events arrived).

On a terminal a mistyped line is reported and the session goes on. When stdin is
a pipe or a file, a malformed line stops the command (exit code 1, naming the
line). An event that was not sent, or a client that gives up connecting, ends it
with exit code 1; Ctrl-C with 130, SIGTERM with 143.`,
		Example: `  nodeipc connect world                          # type lines such as: ping {"n":1}
  printf 'ping {"n":1}\n' | nodeipc connect world --count 1
  nodeipc connect --tcp 127.0.0.1:8000 --max-retries 3 --json < events.txt
  nodeipc connect --udp4 127.0.0.1:8001          # a UDP endpoint on an ephemeral port`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				e.local = args[0]
			}
			return connect(cmd.Context(), g, &e, cmd, linger, count)
		},
	}
	e.flags(cmd, true)
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
	pe := &peerEnd{target: network + ":" + address}
	if network == "udp4" || network == "udp6" {
		host, port, _ := net.SplitHostPort(address)
		p, _ := strconv.Atoi(port)
		local := "0.0.0.0:0"
		if network == "udp6" {
			local = "[::]:0"
		}
		pe.udp, err = nodeipc.NewServer(network, local, &cfg)
		if err != nil {
			return nil, usageErr("%w", err)
		}
		pe.to = nodeipc.UDPPeer(host, p)
		return pe, nil
	}
	pe.client, err = nodeipc.NewClient(e.id, network, address, &cfg)
	if err != nil {
		return nil, usageErr("%w", err)
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
		return failure("%w", err)
	}
	return nil
}

func (pe *peerEnd) emit(event string, data any) error {
	if pe.client != nil {
		return pe.client.Emit(event, data)
	}
	return pe.udp.Emit(pe.to, event, data)
}

// abandon is for a command stopped by a signal: a client that is not
// connected stops retrying at once, so its frames are reported as not sent
// instead of waiting for a connection. A live connection is still flushed.
func (pe *peerEnd) abandon() {
	if pe.client != nil {
		pe.client.StopRetrying()
	}
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

// session follows a client (or a UDP endpoint) for connect and emit. With a
// printer it says "waiting for ENDPOINT ..." once while the server is not
// there, then "connected to" and "disconnected from"; failed attempts are
// not printed one by one. It keeps the last error, for the one line that
// reports why the command ended, and counts the frames the library reports
// as not sent.
type session struct {
	mu        sync.Mutex
	connected bool
	waiting   bool // "waiting" printed since the last connection
	lastErr   error
	unsent    int
	unsentWhy string
	endErr    error

	up     chan struct{} // closed at the first connection
	ended  chan struct{} // closed when the client gave up
	upOnce sync.Once
}

func (pe *peerEnd) follow(p *printer) *session {
	s := &session{up: make(chan struct{}), ended: make(chan struct{})}
	if pe.client == nil {
		close(s.up) // UDP has no connection
		pe.udp.On("error", func(m *nodeipc.Message) {
			s.mu.Lock()
			s.lastErr = m.Err
			s.mu.Unlock()
			if p != nil {
				p.err(peerName(m.Socket), m.Err)
			}
		})
		return s
	}
	note := func(event, human string) {
		if p != nil {
			p.print(line{Event: event, Endpoint: pe.target, human: human, kind: kindNote})
		}
	}
	c := pe.client
	c.On("error", func(m *nodeipc.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var ue *nodeipc.UnsentError
		if errors.As(m.Err, &ue) {
			s.unsent += ue.Frames
			s.unsentWhy = ue.Reason
			return
		}
		s.lastErr = m.Err
		if !s.connected && !s.waiting {
			s.waiting = true
			note("waiting", "waiting for "+pe.target+" ...")
		}
	})
	c.On("connect", func(*nodeipc.Message) {
		s.mu.Lock()
		s.connected, s.waiting, s.lastErr = true, false, nil
		s.mu.Unlock()
		note("connect", "connected to "+pe.target)
		s.upOnce.Do(func() { close(s.up) })
	})
	c.On("disconnect", func(*nodeipc.Message) {
		s.mu.Lock()
		was := s.connected
		s.connected = false
		s.mu.Unlock()
		if was {
			note("disconnect", "disconnected from "+pe.target)
		}
	})
	c.On("destroy", func(*nodeipc.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var perr *nodeipc.ProtocolError
		switch err := s.lastErr; {
		case errors.As(err, &perr):
			s.endErr = failure("the connection to %s was closed: %w", pe.target, err)
		case err != nil && !peerGone(err):
			s.endErr = failure("could not reach %s: %w", pe.target, err)
		default:
			s.endErr = failure("%s closed the connection", pe.target)
		}
		close(s.ended)
	})
	return s
}

// why is the reason the client gave up; call it after ended is closed.
func (s *session) why() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

// result is the command's error: base (nil, a failure, a signal), unless
// frames were not sent, which makes it a failure naming how many and why.
// Call it once the client is closed.
func (s *session) result(base error) error {
	s.mu.Lock()
	n, why, end := s.unsent, s.unsentWhy, s.endErr
	s.mu.Unlock()
	if n == 0 {
		return base
	}
	if end != nil {
		why = describe(end)
	}
	if ee, ok := base.(*exitError); ok && bySignal(ee) {
		return &exitError{ee.code, fmt.Errorf("%w; %s not sent", ee.err, plural(n, "frame"))}
	}
	return unsentError(n, why)
}

// failed reports a UDP endpoint's last error (a stream client's errors end
// in ended).
func (s *session) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
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

func connect(ctx context.Context, g *globals, e *endpoint, cmd *cobra.Command, linger time.Duration, count int) error {
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
	s := pe.follow(p)
	if err := pe.start(); err != nil {
		return err
	}
	in := cmd.InOrStdin()
	var typing io.Writer // where a terminal's mistakes are reported
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		typing = cmd.ErrOrStderr()
		fmt.Fprintln(typing, `nodeipc: type events, one a line: EVENT, EVENT JSON or {"type":EVENT,"data":JSON}; `+endOfInput+` ends`)
	}
	var linesErr error
	linesDone := make(chan struct{})
	go func() { linesErr = sendLines(pe, in, e.raw, typing); close(linesDone) }()

	// until waits for ch unless the session ends first (a signal, the
	// connection gone, enough frames received): then ended is true, with
	// the session's result.
	until := func(ch <-chan struct{}) (ended bool, err error) {
		select {
		case <-ctx.Done():
			return true, stopped(ctx)
		case <-s.ended:
			return true, s.why()
		case <-enough:
			return true, nil
		case <-ch:
			return false, nil
		}
	}
	result := func() error {
		if ended, err := until(linesDone); ended {
			return err
		}
		if linesErr != nil {
			return linesErr
		}
		// Stdin has ended: what was sent goes out once connected.
		if ended, err := until(s.up); ended {
			return err
		}
		if count > 0 {
			_, err := until(nil) // wait for the frames counted, or the end
			return err
		}
		select {
		case <-ctx.Done():
			return stopped(ctx)
		case <-s.ended:
		case <-time.After(linger):
		}
		return nil
	}()
	if bySignal(result) {
		pe.abandon()
	}
	if err := pe.close(); err != nil && result == nil {
		result = failure("closing: %w", err)
	}
	return s.result(result)
}

// sendLines emits each line of in. A malformed line, or one the client
// refuses, ends it with an error naming the line; when typing is set (stdin
// is a terminal) the error is reported there and the next line is read.
func sendLines(pe *peerEnd, in io.Reader, raw bool, typing io.Writer) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		text, err := br.ReadBytes('\n')
		if lerr := sendLine(pe, text, raw); lerr != nil {
			if typing == nil {
				return failure("stdin line %d: %w", n, lerr)
			}
			fmt.Fprintf(typing, "nodeipc: line %d not sent: %s\n", n, oneLine(describe(lerr)))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure("reading stdin: %w", err)
		}
	}
}

func sendLine(pe *peerEnd, text []byte, raw bool) error {
	if raw {
		if len(text) == 0 {
			return nil
		}
		return pe.emit("", append([]byte(nil), text...))
	}
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return nil
	}
	typ, data, err := parseLine(t)
	if err != nil {
		return err
	}
	return pe.emit(typ, data)
}

// parseLine reads {"type":EVENT,"data":JSON}, EVENT JSON, or EVENT.
func parseLine(b []byte) (string, any, error) {
	if b[0] != '{' {
		name, rest := b, []byte(nil)
		if i := bytes.IndexAny(b, " \t"); i >= 0 {
			name, rest = b[:i], bytes.TrimSpace(b[i+1:])
		}
		if len(rest) == 0 {
			return string(name), nil, nil
		}
		if !json.Valid(rest) {
			return "", nil, fmt.Errorf(`the data of %q is not JSON (a string is written "text", with the quotes)`, name)
		}
		return string(name), json.RawMessage(rest), nil
	}
	var v struct {
		Type *string         `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", nil, fmt.Errorf(`not a JSON object {"type":EVENT,"data":JSON}: %v`, err)
	}
	if v.Type == nil || *v.Type == "" {
		return "", nil, errors.New(`"type" is missing or empty`)
	}
	if v.Data == nil {
		return *v.Type, nil, nil
	}
	return *v.Type, v.Data, nil
}
