package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
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

// proxyTLS holds the proxy's TLS flags: the certificate it presents on a
// tls: --listen, and how it verifies the server of a tls: --to.
type proxyTLS struct {
	cert, key        string // presented to clients on --listen
	clientCA         string // --listen: ask clients for a certificate signed by this
	ca               []string
	toCert, toKey    string // presented to the --to server
	serverName       string
	insecure         bool
	listenConf       *tls.Config
	dialConf         *tls.Config
	listenTLS, toTLS bool
}

func newProxy(g *globals) *cobra.Command {
	var (
		listen, to string
		e          endpoint
		t          proxyTLS
	)
	cmd := &cobra.Command{
		Use:   "proxy --listen ENDPOINT --to ENDPOINT",
		Short: "Forward an endpoint to another and show every frame both ways",
		Long: `Listen on one endpoint, forward every connection to another, and show each frame
with its direction (-> client to server, <- server to client; in --json, "direction"
is client-to-server or server-to-client), peer, and the time since the connection
opened. Bytes are forwarded unchanged, as they arrive; malformed frames are shown as
such (with node-ipc 14's error code) and forwarded all the same.

ENDPOINT is tcp:HOST:PORT, tls:HOST:PORT, unix:PATH, a socket path, or a local id
(SocketRoot + AppSpace + id; a named pipe on Windows). Point the application's
clients at --listen to watch the traffic of an existing node-ipc application.

TLS is ended on a tls: --listen (the proxy shows the frames in clear) with --cert
and --key, and made anew to a tls: --to, verified with --ca (or the system's
roots), --server-name, or not at all with --insecure-skip-verify. For mutual TLS,
--client-ca asks clients for a certificate, and --to-cert and --to-key present one
to the server.`,
		Example: `  nodeipc proxy --listen tcp:127.0.0.1:9000 --to tcp:127.0.0.1:8000
  nodeipc proxy --listen /tmp/app.watch --to /tmp/app.world --json
  nodeipc proxy --listen world-debug --to world --delimiter '\n'
  nodeipc proxy --listen tls:127.0.0.1:9443 --cert proxy.pem --key proxy-key.pem \
      --to tls:127.0.0.1:8443 --ca ca.pem`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || to == "" {
				return usageErr("proxy needs --listen and --to")
			}
			return proxy(cmd.Context(), g, &e, &t, listen, to, cmd)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", "", "the `ENDPOINT` clients connect to")
	fs.StringVar(&to, "to", "", "the `ENDPOINT` connections are forwarded to")
	fs.StringVar(&e.delimiter, "delimiter", nodeipc.DefaultDelimiter, "frame delimiter for display (Go escapes allowed)")
	fs.BoolVar(&e.raw, "raw", false, "show raw chunks as bytes instead of frames")
	fs.StringVar(&e.appSpace, "appspace", nodeipc.DefaultAppSpace, "prefix of local socket names")
	fs.StringVar(&e.root, "socket-root", "", "directory of local sockets (default: node-ipc 14's owner-only root)")
	fs.BoolVar(&e.legacy, "legacy", false, "node-ipc 9/10's /tmp/ socket root for ids")
	fs.StringVar(&t.cert, "cert", "", "tls: --listen: the PEM certificate `FILE` shown to clients")
	fs.StringVar(&t.key, "key", "", "tls: --listen: its PEM private key `FILE`")
	fs.StringVar(&t.clientCA, "client-ca", "", "tls: --listen: ask clients for a certificate signed by a CA in this PEM `FILE`")
	fs.StringSliceVar(&t.ca, "ca", nil, "tls: --to: PEM `FILE` of certificates to trust (default: the system's)")
	fs.StringVar(&t.serverName, "server-name", "", "tls: --to: the name verified (default: the host of --to)")
	fs.BoolVar(&t.insecure, "insecure-skip-verify", false, "tls: --to: do not verify the server's certificate")
	fs.StringVar(&t.toCert, "to-cert", "", "tls: --to: a PEM client certificate `FILE` for the server")
	fs.StringVar(&t.toKey, "to-key", "", "tls: --to: its PEM private key `FILE`")
	return cmd
}

// spec resolves a proxy endpoint to a network and address; tls: is TCP
// with tls set.
func (e *endpoint) spec(s string) (network, address string, isTLS bool, err error) {
	switch {
	case strings.HasPrefix(s, "tcp:"):
		address, err = hostPort(strings.TrimPrefix(s, "tcp:"), "tcp")
		return "tcp", address, false, err
	case strings.HasPrefix(s, "tls:"):
		address, err = hostPort(strings.TrimPrefix(s, "tls:"), "tls")
		return "tcp", address, true, err
	case strings.HasPrefix(s, "unix:"):
		return "unix", strings.TrimPrefix(s, "unix:"), false, nil
	case strings.HasPrefix(s, "udp"):
		return "", "", false, usageErr("%q: the proxy forwards tcp:, tls: and local endpoints", s)
	}
	e.local = s
	return "unix", e.localPath(), false, nil
}

// setup checks the TLS flags against the endpoints and loads the files.
func (t *proxyTLS) setup(toHost string) error {
	if !t.listenTLS && (t.cert != "" || t.key != "" || t.clientCA != "") {
		return usageErr("--cert, --key and --client-ca go with a tls: --listen")
	}
	if !t.toTLS && (len(t.ca) > 0 || t.serverName != "" || t.insecure || t.toCert != "" || t.toKey != "") {
		return usageErr("--ca, --server-name, --insecure-skip-verify, --to-cert and --to-key go with a tls: --to")
	}
	if t.listenTLS {
		if t.cert == "" || t.key == "" {
			return usageErr("a tls: --listen needs --cert and --key (PEM files)")
		}
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return failure("--cert %s, --key %s: %w", t.cert, t.key, err)
		}
		t.listenConf = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		if t.clientCA != "" {
			pool, err := loadPool([]string{t.clientCA}, "--client-ca")
			if err != nil {
				return err
			}
			t.listenConf.ClientCAs = pool
			t.listenConf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if t.toTLS {
		t.dialConf = &tls.Config{ServerName: t.serverName, InsecureSkipVerify: t.insecure, MinVersion: tls.VersionTLS12}
		if t.dialConf.ServerName == "" {
			t.dialConf.ServerName = toHost
		}
		if len(t.ca) > 0 {
			pool, err := loadPool(t.ca, "--ca")
			if err != nil {
				return err
			}
			t.dialConf.RootCAs = pool
		}
		if (t.toCert == "") != (t.toKey == "") {
			return usageErr("--to-cert and --to-key go together: give both or neither")
		}
		if t.toCert != "" {
			pair, err := tls.LoadX509KeyPair(t.toCert, t.toKey)
			if err != nil {
				return failure("--to-cert %s, --to-key %s: %w", t.toCert, t.toKey, err)
			}
			t.dialConf.Certificates = []tls.Certificate{pair}
		}
	}
	return nil
}

func loadPool(files []string, flag string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, failure("%s: %w", flag, err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, failure("%s %s: no PEM certificate in it", flag, f)
		}
	}
	return pool, nil
}

func proxy(ctx context.Context, g *globals, e *endpoint, t *proxyTLS, listen, to string, cmd *cobra.Command) error {
	lnet, laddr, ltls, err := e.spec(listen)
	if err != nil {
		return err
	}
	tnet, taddr, ttls, err := e.spec(to)
	if err != nil {
		return err
	}
	t.listenTLS, t.toTLS = ltls, ttls
	toHost, _, _ := net.SplitHostPort(taddr)
	if err := t.setup(toHost); err != nil {
		return err
	}
	d, err := unescape(e.delimiter)
	if err != nil {
		return err
	}
	delim := []byte(d)
	if len(delim) == 0 && !e.raw {
		return usageErr("--delimiter is empty: give one or more bytes (default \\f)")
	}
	ln, err := listenEndpoint(lnet, laddr)
	if err != nil {
		return failure("listen %s: %w", listen, err)
	}
	lname := lnet + ":" + ln.Addr().String()
	if ltls {
		ln = tls.NewListener(ln, t.listenConf)
		lname = "tls:" + ln.Addr().String()
	}
	tname := tnet + ":" + taddr
	if ttls {
		tname = "tls:" + taddr
	}
	p := newPrinter(g, cmd.OutOrStdout())
	p.print(line{Event: "listening", Endpoint: lname, To: tname, kind: kindNote})

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
	target := func() (net.Conn, error) {
		c, err := dialEndpoint(tnet, taddr)
		if err != nil || !ttls {
			return c, err
		}
		tc := tls.Client(c, t.dialConf)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
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
				forward(ctx, p, c, tname, target, delim, e.raw, track)
			}()
		}
	}()
	var result error
	select {
	case <-ctx.Done():
		result = stopped(ctx)
	case err := <-acceptDone:
		result = failure("accept: %w", err)
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
func forward(ctx context.Context, p *printer, client net.Conn, tname string, target func() (net.Conn, error), delim []byte, raw bool, track func(net.Conn, bool)) {
	defer client.Close()
	peer := client.RemoteAddr().String()
	if peer == "" || peer == "@" {
		peer = "local"
	}
	id := connIDs.Add(1)
	if tc, ok := client.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			p.print(line{Peer: peer, Conn: id, Event: "error", Text: "TLS handshake: " + err.Error(), kind: kindError})
			return
		}
	}
	server, err := target()
	if err != nil {
		p.print(line{Peer: peer, Conn: id, Event: "error", Text: fmt.Sprintf("connect to %s: %v", tname, err), kind: kindError})
		return
	}
	track(server, true)
	defer track(server, false)
	defer server.Close()
	c := &proxied{p: p, peer: peer, id: id, start: time.Now(), delim: delim, raw: raw}
	p.print(line{Peer: peer, Conn: id, Event: "connect", kind: kindNote})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pump(toServer, client, server) }()
	go func() { defer wg.Done(); c.pump(toClient, server, client) }()
	wg.Wait()
	c.show(line{Event: "close", kind: kindNote})
}

// connIDs numbers the proxied connections.
var connIDs atomic.Int64

// proxied is one forwarded connection.
type proxied struct {
	p     *printer
	peer  string
	id    int64
	start time.Time
	delim []byte
	raw   bool
}

// show prints l as seen on this connection, with the time since it opened.
func (c *proxied) show(l line) {
	ms := float64(time.Since(c.start).Microseconds()) / 1000
	l.Millis, l.Peer, l.Conn = &ms, c.peer, c.id
	c.p.print(l)
}

// malformed prints bytes that are not a frame: their length and (up to 200
// of them) hex in JSON, quoted in text.
func (c *proxied) malformed(dir, code, why string, b []byte) {
	n := len(b)
	shown := b[:min(n, 200)]
	human := quoteShort(b)
	if why != "" {
		human = why + ": " + human
	}
	c.show(line{Direction: dir, Event: "malformed", Code: code, Text: why, Bytes: &n, Hex: hex.EncodeToString(shown), human: human, kind: kindError})
}

// pump copies src to dst, showing what passes. When src ends, dst's write
// side is closed so the other direction can finish.
func (c *proxied) pump(dir string, src, dst net.Conn) {
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			// Shown before it is forwarded, so that what a frame causes on
			// the other side is never printed before the frame itself.
			if c.raw {
				c.show(line{Direction: dir, Event: "data", raw: append([]byte(nil), chunk...), kind: kindRaw})
			} else {
				pending = c.showFrames(dir, append(pending, chunk...))
			}
			if _, werr := dst.Write(chunk); werr != nil {
				if !peerGone(werr) {
					c.show(line{Direction: dir, Event: "error", Text: "write: " + werr.Error(), kind: kindError})
				}
				src.Close()
				dst.Close()
				return
			}
		}
		if err != nil {
			if len(pending) > 0 {
				c.malformed(dir, string(nodeipc.CodeIncompleteFrame), fmt.Sprintf("%d bytes without a delimiter before the end", len(pending)), pending)
			}
			if !peerGone(err) {
				c.show(line{Direction: dir, Event: "error", Text: "read: " + err.Error(), kind: kindError})
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
func (c *proxied) showFrames(dir string, b []byte) []byte {
	for {
		i := bytes.Index(b, c.delim)
		if i < 0 {
			break
		}
		frame := b[:i]
		b = b[i+len(c.delim):]
		event, data, err := nodeipc.ParseFrame(frame)
		if err != nil {
			c.malformed(dir, string(errCode(err)), "", frame)
			continue
		}
		c.show(line{Direction: dir, Event: event, Data: data, kind: kindEvent})
	}
	if len(b) > maxShown {
		c.show(line{Direction: dir, Event: "malformed", Code: string(nodeipc.CodeFrameTooLarge),
			Text: fmt.Sprintf("more than %d bytes without a delimiter; forwarded, not shown", maxShown), kind: kindError})
		return nil
	}
	return append([]byte(nil), b...)
}

// quoteShort quotes up to 200 bytes of b.
func quoteShort(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}
