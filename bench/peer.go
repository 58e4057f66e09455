package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc"
)

const event = "benchmark.frame"

type peerOpts struct {
	Impl      string    `json:"impl"` // "go" or "raw"
	Role      string    `json:"role"`
	Transport string    `json:"transport"` // unix, tcp, tls, udp4
	Path      string    `json:"path"`
	Host      string    `json:"host"`
	Port      int       `json:"port"`  // the server's
	CPort     int       `json:"cport"` // a UDP client's own port (node-ipc needs one; Go peers take any)
	TLS       *tlsFiles `json:"tls"`
	Inflight  int       `json:"inflight"`
	Count     int       `json:"count"`
	Warmup    int       `json:"warmup"`
	TimeoutMS int       `json:"timeout_ms"` // UDP: a request without a reply this long is lost
	DropEvery int       `json:"drop_every"` // raw UDP server: drop every nth datagram (tests of loss counting)
}

// tlsFiles are the PEM files of a TLS run: the server's key and certificate,
// and the CA that signed it, which clients verify the server against.
type tlsFiles struct {
	Key  string `json:"key"`
	Cert string `json:"cert"`
	CA   string `json:"ca"`
}

func (o peerOpts) address() string {
	if o.Transport == "unix" {
		return o.Path
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

func (o peerOpts) udp() bool { return strings.HasPrefix(o.Transport, "udp") }

func (o peerOpts) timeout() time.Duration {
	if o.TimeoutMS > 0 {
		return time.Duration(o.TimeoutMS) * time.Millisecond
	}
	return time.Second
}

func runPeer(arg string) error {
	var o peerOpts
	if err := json.Unmarshal([]byte(arg), &o); err != nil {
		return err
	}
	if o.Transport == "tls" && o.TLS == nil {
		return errors.New("a TLS peer needs its certificate files")
	}
	if dir := os.Getenv("NODEIPC_BENCH_PROFILE"); dir != "" && o.Impl == "go" {
		// A CPU profile of this peer, for finding where a lane's time goes.
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.pprof", o.Transport, o.Role, os.Getpid())))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch {
	case o.Impl == "go" && o.Role == "server":
		return goServer(o)
	case o.Impl == "go" && o.udp():
		return goUDPClient(o)
	case o.Impl == "go":
		return goClient(o)
	case o.Role == "server" && o.udp():
		return rawUDPServer(o)
	case o.Role == "server":
		return rawServer(o)
	case o.udp():
		return rawUDPClient(o)
	default:
		return rawClient(o)
	}
}

// payload is the 64-byte benchmark string: an 8-hex-digit sequence number
// and 56 'a', as JSON.
func payload(seq int) json.RawMessage {
	b := make([]byte, 0, 66)
	b = append(b, '"')
	b = append(b, hex8(seq)...)
	b = append(b, pad56...)
	return append(b, '"')
}

// reusedPayload is one payload rewritten for every request, boxed once: Emit
// encodes its data before it returns, so the benchmark needs no allocation
// of its own per request.
type reusedPayload struct {
	raw  json.RawMessage
	data any // raw, as Emit takes it
}

func newReusedPayload() *reusedPayload {
	p := &reusedPayload{raw: payload(0)}
	p.data = p.raw
	return p
}

// of rewrites the payload for request seq and returns it.
func (p *reusedPayload) of(seq int) any {
	copy(p.raw[1:9], hex8(seq))
	return p.data
}

var pad56 = strings.Repeat("a", 56)

func hex8(n int) []byte {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[n&0xF]
		n >>= 4
	}
	return b[:]
}

func ready() { fmt.Println(`{"ev":"ready"}`) }

// goServer echoes every frame to its sender, over any transport.
func goServer(o peerOpts) error {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	if o.Transport == "tls" {
		cfg.TLS = &nodeipc.TLSConfig{Private: o.TLS.Key, Public: o.TLS.Cert}
	}
	srv, err := nodeipc.NewServer(o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	srv.On(event, func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, event, m.Data) })
	if err := srv.Start(); err != nil {
		return err
	}
	ready()
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Shutdown(context.Background())
}

// stats follows the requests of one pass. A request ends when its reply
// arrives or, on a datagram transport, when it is given up as lost after a
// timeout; a reply that comes later is ignored. Figures cover the requests
// after the warm-up, and time runs from the end of the warm-up to the last
// reply.
//
// Send times are kept as offsets from base, not as time.Time values: an
// array of those holds a pointer each (their location), which the garbage
// collector would scan, 200,000 of them, in every cycle of the measured
// process.
type stats struct {
	warmup, total int
	base          time.Time
	sent          []time.Duration // since base
	ended         []bool
	lat           []time.Duration
	start, last   time.Time
	lastReply     time.Time // or the start of the pass
	resolved      int       // requests ended, warm-up included
	lost          int       // measured requests given up
	oldest        int       // no request below it is still waiting
}

func newStats(o peerOpts) *stats {
	total := o.Warmup + o.Count
	return &stats{warmup: o.Warmup, total: total, base: time.Now(), sent: make([]time.Duration, total),
		ended: make([]bool, total), lat: make([]time.Duration, 0, o.Count)}
}

// stamp records that request seq is sent now.
func (s *stats) stamp(seq int) { s.sent[seq] = time.Since(s.base) }

// begin marks the start of the pass, and starts the clock when there is no
// warm-up.
func (s *stats) begin() {
	s.lastReply = time.Now()
	if s.warmup == 0 {
		s.start = s.lastReply
	}
}

// got records the reply to seq; it reports false for a reply that ends
// nothing (late, duplicated or garbled).
func (s *stats) got(seq int) bool {
	if seq < 0 || seq >= s.total || s.ended[seq] {
		return false
	}
	now := time.Now()
	s.lastReply = now
	if seq >= s.warmup {
		s.lat = append(s.lat, now.Sub(s.base)-s.sent[seq])
		s.last = now
	}
	s.end(seq, now)
	return true
}

func (s *stats) end(seq int, now time.Time) {
	s.ended[seq] = true
	s.resolved++
	if s.resolved == s.warmup {
		s.start, s.last = now, now
	}
}

// expire gives up the requests below next sent before deadline that are
// still waiting, and returns how many it gave up.
func (s *stats) expire(next int, deadline time.Time) int {
	n := 0
	now := time.Now()
	last := deadline.Sub(s.base)
	for ; s.oldest < next; s.oldest++ {
		if s.ended[s.oldest] {
			continue
		}
		if s.sent[s.oldest] > last {
			break
		}
		if s.oldest >= s.warmup {
			s.lost++
		}
		s.end(s.oldest, now)
		n++
	}
	return n
}

func (s *stats) complete() bool { return s.resolved == s.total }

func (s *stats) print() {
	elapsed := s.last.Sub(s.start)
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	q := func(p float64) float64 {
		if len(s.lat) == 0 {
			return 0
		}
		return float64(s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))].Nanoseconds()) / 1000
	}
	count := len(s.lat)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(count) / elapsed.Seconds()
	}
	b, _ := json.Marshal(map[string]any{"ev": "result", "count": count, "elapsed_ns": elapsed.Nanoseconds(),
		"rtt_per_sec": rate, "p50_us": q(0.5), "p99_us": q(0.99), "lost": s.lost})
	fmt.Println(string(b))
}

// seqOf reads the sequence number at the start of a payload (after its
// opening quote); -1 if there is none.
func seqOf(data []byte) int {
	if len(data) < 9 {
		return -1
	}
	n := 0
	for _, c := range data[1:9] {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			return -1
		}
	}
	return n
}

// goClient keeps o.Inflight requests in flight over a stream transport.
func goClient(o peerOpts) error {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.MaxRetries = 0
	if o.Transport == "tls" {
		// One-way TLS: the server is verified against the run's CA.
		cfg.TLS = &nodeipc.TLSConfig{TrustedConnections: []string{o.TLS.CA}}
	}
	c, err := nodeipc.NewClient("bench", o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	st := newStats(o)
	next := 0
	pl := newReusedPayload()
	done := make(chan error, 1)
	send := func() {
		st.stamp(next)
		if err := c.Emit(event, pl.of(next)); err != nil {
			done <- err
		}
		next++
	}
	c.On(event, func(m *nodeipc.Message) {
		if !st.got(seqOf(m.Data)) {
			return
		}
		if st.complete() {
			done <- nil
			return
		}
		if next < st.total {
			send()
		}
	})
	c.On("connect", func(*nodeipc.Message) {
		st.begin()
		for i := 0; i < o.Inflight && next < st.total; i++ {
			send()
		}
	})
	c.On("destroy", func(*nodeipc.Message) { done <- fmt.Errorf("could not connect to %s", o.address()) })
	c.Connect()
	if err := <-done; err != nil {
		return err
	}
	st.print()
	return c.Close(context.Background())
}

// serverTLS and clientTLS are the raw peers' TLS settings, the same as the
// library peers': one-way TLS, the server verified against the run's CA.
func serverTLS(f *tlsFiles) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

func clientTLS(f *tlsFiles, host string) (*tls.Config, error) {
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no certificate in " + f.CA)
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// rawServer reflects bytes: the cost of the socket itself (with TLS, of the
// socket and crypto/tls), read and written plainly.
func rawServer(o peerOpts) error {
	var ln net.Listener
	var err error
	if o.Transport == "tls" {
		var conf *tls.Config
		if conf, err = serverTLS(o.TLS); err != nil {
			return err
		}
		ln, err = tls.Listen("tcp", o.address(), conf)
	} else {
		ln, err = net.Listen(o.Transport, o.address())
	}
	if err != nil {
		return err
	}
	ready()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

// frame appends the 101-byte frame of request seq.
func frame(dst []byte, seq int) []byte {
	f, _ := nodeipc.EncodeFrame(event, payload(seq))
	return append(dst, f...)
}

// framePrefix is what comes before the payload in a frame.
const framePrefix = len(`{"type":"benchmark.frame","data":`)

// frameSeq reads the sequence number of a frame; -1 if it has none.
func frameSeq(f []byte) int {
	if len(f) < framePrefix {
		return -1
	}
	return seqOf(f[framePrefix:])
}

// rawClient writes the same 101-byte frames and splits replies on \f,
// without JSON.
func rawClient(o peerOpts) error {
	var c net.Conn
	var err error
	if o.Transport == "tls" {
		var conf *tls.Config
		if conf, err = clientTLS(o.TLS, o.Host); err != nil {
			return err
		}
		c, err = tls.Dial("tcp", o.address(), conf)
	} else {
		c, err = net.Dial(o.Transport, o.address())
	}
	if err != nil {
		return err
	}
	defer c.Close()
	st := newStats(o)
	next := 0
	var out []byte
	st.begin()
	for ; next < o.Inflight && next < st.total; next++ {
		st.stamp(next)
		out = frame(out, next)
	}
	if _, err := c.Write(out); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var rest []byte
	for {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		rest = append(rest, buf[:n]...)
		out = out[:0]
		for {
			i := bytes.IndexByte(rest, '\f')
			if i < 0 {
				break
			}
			ok := st.got(frameSeq(rest[:i]))
			rest = rest[i+1:]
			if !ok {
				continue
			}
			if st.complete() {
				st.print()
				return nil
			}
			if next < st.total {
				st.stamp(next)
				out = frame(out, next)
				next++
			}
		}
		rest = append([]byte(nil), rest...)
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return err
			}
		}
	}
}
