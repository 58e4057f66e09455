package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

// maxShown bounds what the proxy keeps of one unfinished frame for display;
// forwarding is never limited.
const maxShown = 64 << 20

func newProxy(g *globals) *cobra.Command {
	var (
		listen, to string
		e          endpoint
	)
	cmd := &cobra.Command{
		Use:   "proxy --listen ENDPOINT --to ENDPOINT",
		Short: "Forward an endpoint to another and show every frame both ways",
		Long: `Listen on one endpoint, forward every connection to another, and show each frame
with its direction (-> client to server, <- server to client), peer, and the time since
the connection opened. Bytes are forwarded unchanged, as they arrive; malformed frames
are shown as such (with node-ipc 14's error code) and forwarded all the same.

ENDPOINT is tcp:HOST:PORT, unix:PATH, a socket path, or a local id (SocketRoot +
AppSpace + id; a named pipe on Windows). Point the application's clients at --listen
to watch the traffic of an existing node-ipc application.`,
		Example: `  nodeipc proxy --listen tcp:127.0.0.1:9000 --to tcp:127.0.0.1:8000
  nodeipc proxy --listen /tmp/app.watch --to /tmp/app.world --json
  nodeipc proxy --listen world-debug --to world --delimiter '\n'`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || to == "" {
				return usageErr("proxy needs --listen and --to")
			}
			return proxy(cmd.Context(), g, &e, listen, to, cmd)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "the `ENDPOINT` clients connect to")
	cmd.Flags().StringVar(&to, "to", "", "the `ENDPOINT` connections are forwarded to")
	cmd.Flags().StringVar(&e.delimiter, "delimiter", nodeipc.DefaultDelimiter, "frame delimiter for display (Go escapes allowed)")
	cmd.Flags().BoolVar(&e.raw, "raw", false, "show raw chunks as bytes instead of frames")
	cmd.Flags().StringVar(&e.appSpace, "appspace", nodeipc.DefaultAppSpace, "prefix of local socket names")
	cmd.Flags().StringVar(&e.root, "socket-root", "", "directory of local sockets (default: node-ipc 14's owner-only root)")
	cmd.Flags().BoolVar(&e.legacy, "legacy", false, "node-ipc 9/10's /tmp/ socket root for ids")
	return cmd
}

// spec resolves a proxy endpoint to a network and address.
func (e *endpoint) spec(s string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(s, "tcp:"):
		address, err = hostPort(strings.TrimPrefix(s, "tcp:"), "tcp")
		return "tcp", address, err
	case strings.HasPrefix(s, "unix:"):
		return "unix", strings.TrimPrefix(s, "unix:"), nil
	case strings.HasPrefix(s, "tls:"), strings.HasPrefix(s, "udp"):
		return "", "", usageErr("%q: the proxy forwards tcp: and local endpoints", s)
	}
	e.local = s
	return "unix", e.localPath(), nil
}

func proxy(ctx context.Context, g *globals, e *endpoint, listen, to string, cmd *cobra.Command) error {
	lnet, laddr, err := e.spec(listen)
	if err != nil {
		return err
	}
	tnet, taddr, err := e.spec(to)
	if err != nil {
		return err
	}
	cfg, err := e.config("")
	if err != nil {
		return err
	}
	delim := []byte(cfg.Delimiter)
	if len(delim) == 0 {
		return usageErr("--delimiter is empty")
	}
	ln, err := listenEndpoint(lnet, laddr)
	if err != nil {
		return failure("listen %s: %v", listen, err)
	}
	p := newPrinter(g, cmd.OutOrStdout())
	p.note("", "listening", fmt.Sprintf("%s %s -> %s %s", lnet, ln.Addr(), tnet, taddr))

	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = struct{}{}
		} else {
			delete(conns, c)
		}
	}
	acceptDone := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptDone <- err
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				track(c, true)
				defer track(c, false)
				forward(p, c, tnet, taddr, delim, e.raw, track)
			}()
		}
	}()
	var result error
	select {
	case <-ctx.Done():
		result = errInterrupted
	case err := <-acceptDone:
		result = failure("accept: %v", err)
	}
	ln.Close()
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return result
}

// forward connects one accepted client to the target and copies both ways.
func forward(p *printer, client net.Conn, tnet, taddr string, delim []byte, raw bool, track func(net.Conn, bool)) {
	defer client.Close()
	peer := client.RemoteAddr().String()
	if peer == "" || peer == "@" {
		peer = "local"
	}
	peer = fmt.Sprintf("%s#%d", peer, connIDs.Add(1))
	server, err := dialEndpoint(tnet, taddr)
	if err != nil {
		p.err(peer, fmt.Errorf("connect to %s %s: %v", tnet, taddr, err))
		return
	}
	track(server, true)
	defer track(server, false)
	defer server.Close()
	start := time.Now()
	p.note(peer, "connect", "")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(p, peer, "->", client, server, start, delim, raw) }()
	go func() { defer wg.Done(); pump(p, peer, "<-", server, client, start, delim, raw) }()
	wg.Wait()
	p.note(peer, "close", fmt.Sprintf("after %.1f ms", float64(time.Since(start).Microseconds())/1000))
}

// connIDs numbers the proxied connections.
var connIDs atomic.Int64

// pump copies src to dst, showing what passes. When src ends, dst's write
// side is closed so the other direction can finish.
func pump(p *printer, peer, dir string, src, dst net.Conn, start time.Time, delim []byte, raw bool) {
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			// Shown before it is forwarded, so that what a frame causes on
			// the other side is never printed before the frame itself.
			if raw {
				show(p, line{Dir: dir, Peer: peer, Event: "data", raw: append([]byte(nil), chunk...), kind: kindRaw}, start)
			} else {
				pending = showFrames(p, peer, dir, append(pending, chunk...), start, delim)
			}
			if _, werr := dst.Write(chunk); werr != nil {
				p.err(peer, fmt.Errorf("%s write: %v", dir, werr))
				src.Close()
				dst.Close()
				return
			}
		}
		if err != nil {
			if len(pending) > 0 {
				l := line{Dir: dir, Peer: peer, Event: "malformed", Code: nodeipc.CodeIncompleteFrame,
					Text: fmt.Sprintf("%d bytes without a delimiter before the end: %s", len(pending), quoteShort(pending)), kind: kindError}
				show(p, l, start)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.err(peer, fmt.Errorf("%s read: %v", dir, err))
			}
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
	}
}

// showFrames prints every complete frame in b and returns the rest.
func showFrames(p *printer, peer, dir string, b []byte, start time.Time, delim []byte) []byte {
	for {
		i := bytes.Index(b, delim)
		if i < 0 {
			break
		}
		frame := b[:i]
		b = b[i+len(delim):]
		event, data, err := nodeipc.ParseFrame(frame)
		if err != nil {
			show(p, line{Dir: dir, Peer: peer, Event: "malformed", Code: errCode(err), Text: quoteShort(frame), kind: kindError}, start)
			continue
		}
		show(p, line{Dir: dir, Peer: peer, Event: event, Data: data, kind: kindEvent}, start)
	}
	if len(b) > maxShown {
		show(p, line{Dir: dir, Peer: peer, Event: "malformed", Code: nodeipc.CodeFrameTooLarge,
			Text: fmt.Sprintf("more than %d bytes without a delimiter; forwarded, not shown", maxShown), kind: kindError}, start)
		return nil
	}
	return append([]byte(nil), b...)
}

func show(p *printer, l line, start time.Time) {
	ms := float64(time.Since(start).Microseconds()) / 1000
	l.Millis = &ms
	p.print(l)
}

// quoteShort quotes up to 200 bytes of b.
func quoteShort(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}
