// Command adversary is a hostile node-ipc peer. It connects to a server
// over a Unix socket, TCP or TLS, throws one or more cases of its catalogue
// at it (malformed, oversized, endless and slowloris frames, reserved and
// prototype event names, name floods, bursts, connection floods, invalid
// UTF-8, zero-length writes, TLS without a client certificate, ...) and
// prints what the server did, one JSON line per case: whether it closed the
// attacking connection, how long after the attack ended, and whether it
// still answered a round trip on it.
//
//	adversary -network unix -addr PATH [flags] [case ...]   (no case: all)
//	adversary -list
//
// The server must answer {"type":"ping","data":X} with
// {"type":"pong","data":X} (with -raw: answer a line "probe-..." with the
// same line). The test next to this file runs it against nodeipc servers of
// every profile.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Report is what one case observed.
type Report struct {
	Case     string  `json:"case"`
	Closed   bool    `json:"closed"`         // the server closed the attacking connection
	Answered bool    `json:"answered"`       // it still answered a round trip on it
	Millis   float64 `json:"ms"`             // from the end of the attack to the close or the answer
	Conns    int     `json:"conns"`          // connections made (TCP or Unix level)
	Refused  int     `json:"refused"`        // of those, closed without an answer (floods)
	Sent     int     `json:"sent,omitempty"` // events sent (bursts, floods)
	Written  int64   `json:"written"`        // bytes written
	Note     string  `json:"note,omitempty"` // how the connection ended, or why the case failed
	Failed   bool    `json:"failed,omitempty"`
}

// target is the server under attack.
type target struct {
	network, addr string
	tls           *tls.Config // with the client certificate; nil for plain transports
	raw           bool        // the server is in raw mode
	limit         int         // MaxMessageSize: a frame of limit bytes passes guarded, one more does not
	ceiling       int         // MaxReadBuffer: the largest unfinished frame in any profile
	hold          time.Duration
	conns         int // connections of the flood
}

// A case attacks once and reports.
type attackCase struct {
	name    string
	tlsOnly bool
	run     func(t *target, r *Report) error
}

// catalogue is every case, in the order they run.
var catalogue = []attackCase{
	{name: "malformed-json", run: frames("not json\f")},
	{name: "empty-frame", run: frames("\f")},
	{name: "non-object", run: frames("[1]\f")},
	{name: "null", run: frames("null\f")},
	{name: "number", run: frames("5\f")},
	{name: "missing-type", run: frames(`{"data":1}` + "\f")},
	{name: "numeric-type", run: frames(`{"type":5,"data":1}` + "\f")},
	{name: "empty-type", run: frames(`{"type":"","data":1}` + "\f")},
	{name: "reserved-error", run: frames(`{"type":"error","data":"spoofed"}` + "\f")},
	{name: "reserved-close", run: frames(`{"type":"close"}` + "\f")},
	{name: "reserved-escaped-key", run: frames(`{"typ\u0065":"connect","data":{}}` + "\f")},
	{name: "wildcard-event", run: frames(`{"type":"*","data":1}` + "\f")},
	{name: "proto-__proto__", run: frames(`{"type":"__proto__","data":{"polluted":true}}` + "\f")},
	{name: "proto-constructor", run: frames(`{"type":"constructor","data":1}` + "\f")},
	{name: "proto-toString", run: frames(`{"type":"toString"}` + "\f")},
	{name: "proto-in-data", run: frames(`{"type":"ping","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{}}}}` + "\f")},
	{name: "unlisted-event", run: frames(`{"type":"not-on-the-list","data":1}` + "\f")},
	{name: "long-name", run: frames(`{"type":"` + strings.Repeat("n", 300) + `","data":1}` + "\f")},
	{name: "long-name-utf16", run: frames(`{"type":"` + strings.Repeat("😀", 129) + `","data":1}` + "\f")}, // 258 UTF-16 units in 516 bytes
	{name: "name-flood", run: nameFlood},
	{name: "frame-at-limit", run: sized(0)},
	{name: "large-frame", run: sized(1)},
	{name: "oversized-frame", run: oversized},
	{name: "endless-frame", run: endless},
	{name: "slowloris", run: slowloris},
	{name: "slowloris-drip", run: drip},
	{name: "invalid-utf8-data", run: frames("{\"type\":\"ping\",\"data\":\"\xff\xfe\"}\f")},
	{name: "invalid-utf8-name", run: frames("{\"type\":\"\xc3(\",\"data\":1}\f")},
	{name: "control-char", run: frames("{\"type\":\"ping\",\"data\":\"a\x00b\"}\f")},
	{name: "deep-nesting", run: frames(`{"type":"ping","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}\f")},
	{name: "zero-length-writes", run: zeroWrites},
	{name: "burst", run: burst},
	{name: "ping-flood-no-read", run: pingFlood},
	{name: "violation-after-valid", run: frames(`{"type":"burst","data":0}` + "\f" + "not json\f" + `{"type":"burst","data":1}` + "\f")},
	{name: "half-frame-eof", run: halfFrame},
	{name: "connection-flood", run: connFlood},
	{name: "tls-no-client-cert", tlsOnly: true, run: tlsNoCert},
	{name: "tls-untrusted-cert", tlsOnly: true, run: tlsUntrusted},
	{name: "tls-plaintext", tlsOnly: true, run: tlsPlaintext},
	{name: "tls-handshake-stall", tlsOnly: true, run: tlsStall},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command: it returns the exit status (1 when a case could not
// be run, 2 for bad usage).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("adversary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	t := &target{}
	var caFile, certFile, keyFile string
	list := fs.Bool("list", false, "list the cases and exit")
	fs.StringVar(&t.network, "network", "unix", "unix, tcp or tls")
	fs.StringVar(&t.addr, "addr", "", "socket path or host:port")
	fs.StringVar(&caFile, "ca", "", "TLS: PEM file of the CA that signed the server's certificate")
	fs.StringVar(&certFile, "cert", "", "TLS: PEM client certificate")
	fs.StringVar(&keyFile, "key", "", "TLS: PEM client key")
	fs.BoolVar(&t.raw, "raw", false, "the server is in raw mode")
	fs.IntVar(&t.limit, "limit", 1<<20, "the server's MaxMessageSize")
	fs.IntVar(&t.ceiling, "ceiling", 64<<20, "the server's MaxReadBuffer")
	fs.DurationVar(&t.hold, "hold", 3*time.Second, "how long slowloris holds a partial frame (longer than MessageTimeout)")
	fs.IntVar(&t.conns, "conns", 200, "connections in the connection flood (more than MaxConnections)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, c := range catalogue {
			fmt.Fprintln(stdout, c.name)
		}
		return 0
	}
	if t.addr == "" {
		fmt.Fprintln(stderr, "adversary: -addr is required")
		return 2
	}
	if t.network == "tls" {
		var err error
		if t.tls, err = clientTLS(caFile, certFile, keyFile); err != nil {
			fmt.Fprintln(stderr, "adversary:", err)
			return 2
		}
	}
	names := fs.Args()
	if len(names) == 0 {
		for _, c := range catalogue {
			if !c.tlsOnly || t.tls != nil {
				names = append(names, c.name)
			}
		}
	}
	status := 0
	enc := json.NewEncoder(stdout)
	for _, name := range names {
		r := Report{Case: name}
		c, ok := lookup(name)
		switch {
		case !ok:
			r.Failed, r.Note = true, "no such case"
		case c.tlsOnly && t.tls == nil:
			r.Failed, r.Note = true, "a TLS case needs -network tls"
		default:
			if err := c.run(t, &r); err != nil {
				r.Failed, r.Note = true, err.Error()
			}
		}
		if r.Failed {
			status = 1
		}
		_ = enc.Encode(&r)
	}
	return status
}

func lookup(name string) (attackCase, bool) {
	for _, c := range catalogue {
		if c.name == name {
			return c, true
		}
	}
	return attackCase{}, false
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "localhost"}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// conn is one attacking connection. Once reading starts, a goroutine reads
// everything the server sends, so that the server is never held up by us
// unless a case wants it to be.
type conn struct {
	net.Conn
	r       *Report
	t       *target
	chunks  chan []byte
	readErr error // set before chunks is closed
	tail    []byte
	started bool
}

// dial connects (completing the TLS handshake, with cfg for TLS) and counts
// the connection.
func (t *target) dial(r *Report, cfg *tls.Config) (*conn, error) {
	return t.dialWith(r, cfg, net.Dialer{Timeout: 10 * time.Second})
}

// dialWith dials with d, then makes the TLS handshake with cfg (none when
// cfg is nil or the target is not TLS).
func (t *target) dialWith(r *Report, cfg *tls.Config, d net.Dialer) (*conn, error) {
	network := t.network
	if network == "tls" {
		network = "tcp"
	}
	nc, err := d.Dial(network, t.addr)
	if err != nil {
		return nil, err
	}
	r.Conns++
	c := &conn{Conn: nc, r: r, t: t, chunks: make(chan []byte, 64)}
	if t.tls != nil && cfg != nil {
		tc := tls.Client(nc, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return &conn{Conn: nc, r: r, t: t, readErr: err, chunks: closedChunks()}, nil
		}
		_ = tc.SetDeadline(time.Time{})
		c.Conn = tc
	}
	return c, nil
}

// open dials with the target's own TLS settings.
func (t *target) open(r *Report) (*conn, error) { return t.dial(r, t.tls) }

func closedChunks() chan []byte {
	ch := make(chan []byte)
	close(ch)
	return ch
}

// startReading starts the reader goroutine.
func (c *conn) startReading() {
	if c.started || c.readErr != nil {
		return
	}
	c.started = true
	go func() {
		defer close(c.chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := c.Conn.Read(buf)
			if n > 0 {
				c.chunks <- buf[:n]
			}
			if err != nil {
				c.readErr = err
				return
			}
		}
	}()
}

// write writes and counts.
func (c *conn) write(b []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Conn.Write(b)
	c.r.Written += int64(n)
	return err
}

// await reads until marker arrives (true), the connection ends (false,
// closed), or d passes (false, not closed).
func (c *conn) await(marker []byte, d time.Duration) (found, closed bool) {
	c.startReading()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-c.chunks:
			if !ok {
				return false, true
			}
			if marker == nil {
				continue
			}
			window := append(c.tail, b...)
			if bytes.Contains(window, marker) {
				c.tail = nil
				return true, false
			}
			c.tail = append([]byte(nil), window[max(0, len(window)-len(marker)):]...)
		case <-timer.C:
			return false, false
		}
	}
}

// ended records how an attack begun at start ended: whether the server
// closed the connection, how, and when; then it closes this side.
func (c *conn) ended(start time.Time, closed bool) {
	c.r.Closed, c.r.Note = closed, describe(c.readErr)
	c.r.Millis = millisSince(start)
	c.Close()
}

func millisSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// verdict probes the connection after an attack that ended at start: it
// sends a ping (again every 200 ms, for up to 10 s) until one is answered
// or the connection ends, and records which, when, and how it ended.
func (c *conn) verdict(start time.Time) {
	c.startReading()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		nonce := make([]byte, 6)
		_, _ = rand.Read(nonce)
		marker := []byte("probe-" + hex.EncodeToString(nonce))
		_ = c.write(c.t.ping(string(marker)))
		found, closed := c.await(marker, 200*time.Millisecond)
		if found || closed {
			c.r.Answered, c.r.Closed = found, closed
			c.r.Millis = millisSince(start)
			if closed && c.r.Note == "" {
				c.r.Note = describe(c.readErr)
			}
			c.Close()
			return
		}
	}
	c.r.Note = "neither answered nor closed within 10s"
	c.Close()
}

// ping is the probe: a ping frame, or a line for a raw server.
func (t *target) ping(marker string) []byte {
	if t.raw {
		return []byte(marker + "\n")
	}
	return []byte(`{"type":"ping","data":"` + marker + `"}` + "\f")
}

func describe(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF):
		return "EOF"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && !strings.HasPrefix(s[i+2:], "read") {
		s = s[i+2:]
	}
	return s
}

// frames writes the bytes in one write, then asks for the verdict.
func frames(b string) func(*target, *Report) error {
	return func(t *target, r *Report) error {
		c, err := t.open(r)
		if err != nil {
			return err
		}
		c.startReading()
		_ = c.write([]byte(b))
		c.verdict(time.Now())
		return nil
	}
}

// nameFlood sends ten thousand events, each with a name never seen before.
func nameFlood(t *target, r *Report) error {
	var b bytes.Buffer
	for i := range 10000 {
		fmt.Fprintf(&b, `{"type":"flood-%d","data":%d}`+"\f", i, i)
	}
	r.Sent = 10000
	return frames(b.String())(t, r)
}

// sized sends a ping frame of exactly limit+extra bytes (delimiter apart).
func sized(extra int) func(*target, *Report) error {
	return func(t *target, r *Report) error {
		head, tail := `{"type":"ping","data":"`, `"}`
		pad := t.limit + extra - len(head) - len(tail)
		return frames(head+strings.Repeat("l", pad)+tail+"\f")(t, r)
	}
}

// oversized sends one complete frame larger than MaxReadBuffer.
func oversized(t *target, r *Report) error {
	return frames(`{"type":"ping","data":"`+strings.Repeat("o", t.ceiling+1)+`"}`+"\f")(t, r)
}

// endless streams one frame that never ends until the server cuts it (or
// far more than MaxReadBuffer plus every kernel buffer was written).
func endless(t *target, r *Report) error {
	c, err := t.open(r)
	if err != nil {
		return err
	}
	c.startReading()
	most := int64(t.ceiling) + 64<<20
	if t.raw {
		most = 16 << 20
	}
	err = c.write([]byte(`{"type":"ping","data":"`))
	chunk := bytes.Repeat([]byte("e"), 64<<10)
	for err == nil && r.Written < most {
		err = c.write(chunk)
	}
	start := time.Now()
	if err != nil {
		r.Note = "write: " + describe(err)
	} else {
		_ = c.write([]byte("\"}\f")) // finish it, to ask for the verdict
	}
	c.verdict(start)
	return nil
}

// slowloris holds a partial frame for hold, then completes it as a ping;
// a server with a message timeout closes the connection meanwhile.
func slowloris(t *target, r *Report) error {
	c, err := t.open(r)
	if err != nil {
		return err
	}
	_ = c.write([]byte(`{"type":"ping","data":"slow`))
	start := time.Now()
	if _, closed := c.await(nil, t.hold); closed {
		c.ended(start, true)
		return nil
	}
	_ = c.write([]byte(`loris"}` + "\f"))
	c.verdict(start)
	return nil
}

// drip sends a ping frame one byte at a time, hold/40 apart.
func drip(t *target, r *Report) error {
	c, err := t.open(r)
	if err != nil {
		return err
	}
	c.startReading()
	frame := t.ping("drip")
	start := time.Now()
	for i := range frame {
		if err := c.write(frame[i : i+1]); err != nil {
			break
		}
		if _, closed := c.await(nil, t.hold/40); closed {
			r.Sent = i + 1
			c.ended(start, true)
			return nil
		}
	}
	r.Sent = len(frame)
	c.verdict(start)
	return nil
}

// zeroWrites makes a thousand zero-length writes, then sends a ping one
// byte per write.
func zeroWrites(t *target, r *Report) error {
	c, err := t.open(r)
	if err != nil {
		return err
	}
	c.startReading()
	for range 1000 {
		_ = c.write(nil)
	}
	for _, b := range t.ping("zero") {
		_ = c.write([]byte{b})
	}
	c.verdict(time.Now())
	return nil
}

// burst sends twenty thousand events in one write.
func burst(t *target, r *Report) error {
	var b bytes.Buffer
	const n = 20000
	for i := range n {
		if t.raw {
			fmt.Fprintf(&b, "burst-%d\n", i)
		} else {
			fmt.Fprintf(&b, `{"type":"burst","data":%d}`+"\f", i)
		}
	}
	r.Sent = n
	return frames(b.String())(t, r)
}

// pingFlood sends pings without reading the answers, so that the server's
// queue for this connection fills, then starts reading.
func pingFlood(t *target, r *Report) error {
	// A small receive buffer, so that the replies this client does not
	// read pile up at the server rather than here. It is set before the
	// socket connects (see receiveBuffer).
	c, err := t.dialWith(r, t.tls, net.Dialer{Timeout: 10 * time.Second, Control: receiveBuffer(8 << 10)})
	if err != nil {
		return err
	}
	sock := c.Conn
	if tc, ok := sock.(*tls.Conn); ok {
		sock = tc.NetConn()
	}
	var b bytes.Buffer
	const n = 200000
	for i := range n {
		b.Write(t.ping("probe-flood-" + strconv.Itoa(i)))
	}
	r.Sent = n
	// Written in pieces, so that a server that closes the connection is
	// seen at the next piece.
	for p := b.Bytes(); len(p) > 0; {
		k := min(len(p), 64<<10)
		if err := c.write(p[:k]); err != nil {
			r.Note = "write: " + describe(err)
			break
		}
		p = p[k:]
	}
	// The verdict reads, which would drain the replies: first let the
	// server take in and answer the whole flood, however slowly it runs.
	waitTaken(sock)
	c.verdict(time.Now())
	return nil
}

// waitTaken waits until the peer has taken in everything written to sock
// (or 10 s), then a little longer for it to act on the last of it. Where the
// socket cannot tell, it waits a second.
func waitTaken(sock net.Conn) {
	if _, ok := unsent(sock); !ok {
		time.Sleep(time.Second)
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n, _ := unsent(sock); n == 0 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// halfFrame sends half a frame, then closes its writing side.
func halfFrame(t *target, r *Report) error {
	c, err := t.open(r)
	if err != nil {
		return err
	}
	c.startReading()
	_ = c.write([]byte(`{"type":"ping","da`))
	switch x := c.Conn.(type) {
	case *tls.Conn:
		_ = x.CloseWrite()
	case interface{ CloseWrite() error }:
		_ = x.CloseWrite()
	}
	start := time.Now()
	_, closed := c.await(nil, 10*time.Second)
	c.ended(start, closed)
	return nil
}

// connFlood opens conns connections at once, holds them, and asks each for
// a round trip: one the server refused gets none.
func connFlood(t *target, r *Report) error {
	conns := make([]*conn, t.conns)
	answered := make([]bool, t.conns)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := &Report{}
			c, err := t.open(mine)
			mu.Lock()
			r.Conns += mine.Conns
			mu.Unlock()
			if err != nil {
				return
			}
			conns[i] = c
			marker := []byte("probe-flood-" + strconv.Itoa(i))
			if c.readErr == nil {
				_ = c.write(t.ping(string(marker)))
				answered[i], _ = c.await(marker, 10*time.Second)
			}
		}()
	}
	wg.Wait()
	r.Millis = millisSince(start)
	for i, c := range conns {
		if answered[i] {
			r.Sent++
		} else {
			r.Refused++
		}
		if c != nil {
			c.Close()
		}
	}
	r.Answered = r.Sent > 0
	r.Closed = r.Refused > 0
	r.Note = fmt.Sprintf("%d answered, %d refused", r.Sent, r.Refused)
	return nil
}

// tlsNoCert completes what handshake it can without a client certificate.
func tlsNoCert(t *target, r *Report) error {
	cfg := t.tls.Clone()
	cfg.Certificates = nil
	return tlsAttempt(t, r, cfg)
}

// tlsUntrusted presents a self-signed certificate the server does not
// trust.
func tlsUntrusted(t *target, r *Report) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	cfg := t.tls.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	return tlsAttempt(t, r, cfg)
}

func tlsAttempt(t *target, r *Report, cfg *tls.Config) error {
	c, err := t.dial(r, cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	if c.readErr != nil {
		r.Closed, r.Note = true, "handshake: "+describe(c.readErr)
		c.Close()
		return nil
	}
	c.verdict(start)
	return nil
}

// tlsPlaintext speaks plain frames to a TLS server.
func tlsPlaintext(t *target, r *Report) error {
	c, err := t.dial(r, nil)
	if err != nil {
		return err
	}
	c.startReading()
	_ = c.write(t.ping("plaintext"))
	start := time.Now()
	_, closed := c.await(nil, 10*time.Second)
	c.ended(start, closed)
	return nil
}

// tlsStall connects and never starts the handshake.
func tlsStall(t *target, r *Report) error {
	c, err := t.dial(r, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	_, closed := c.await(nil, 30*time.Second)
	c.ended(start, closed)
	return nil
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "adversary"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
