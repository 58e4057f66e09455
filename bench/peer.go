package main

import (
	"bufio"
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
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
)

const event = "benchmark.frame"

type peerOpts struct {
	Impl      string    `json:"impl"`      // "go" or "raw"
	Role      string    `json:"role"`      // server, client, rates (go) or idle (raw)
	Style     string    `json:"style"`     // go client: "typical" (the default) or "tuned"
	Mode      string    `json:"mode"`      // "" plain emits, "req" requests, "ack" acknowledged emits (both peers)
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
	NoSpin    bool      `json:"no_spin"`    // go peers: Config.ReadSpin -1
	MaxConns  int       `json:"max_conns"`  // go server: Config.MaxConnections, when set
	Conns     int       `json:"conns"`      // rates and idle clients: connections
	Rate      float64   `json:"rate"`       // rates client: requests a second, all connections together
	WarmupMS  int       `json:"warmup_ms"`  // rates client: paced before the measured window
	DuringMS  int       `json:"during_ms"`  // rates client: the measured window
	Procs     int       `json:"procs"`      // go server: GOMAXPROCS, when set
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
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.pprof", o.Transport, o.label(), os.Getpid())))
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
		if o.Procs > 0 {
			runtime.GOMAXPROCS(o.Procs)
		}
		return goServer(o)
	case o.Role == "rates":
		return goRatesClient(o)
	case o.Role == "idle":
		return idleClient(o)
	case o.Impl == "go" && o.Mode == modeRequest:
		return goRequestClient(o)
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

// label names a Go peer's profile: its role, the client's style, and
// whether it polls.
func (o peerOpts) label() string {
	l := o.Role
	if o.Role == "client" && o.Mode != modeRequest {
		l += "-" + o.methodName()
	}
	if o.Mode != "" {
		l += "-" + o.Mode
	}
	if o.NoSpin {
		l += "-nospin"
	}
	return l
}

func (o peerOpts) methodName() string {
	if o.Style == "tuned" {
		return "tuned"
	}
	return "typical"
}

// config is a Go peer's configuration: the defaults, silent, and the
// lane's settings.
func (o peerOpts) config() nodeipc.Config {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	if o.NoSpin {
		cfg.ReadSpin = -1 // never poll
	}
	if o.MaxConns > 0 {
		cfg.MaxConnections = o.MaxConns
	}
	if o.Mode == modeAcked {
		cfg.Acks = true
	}
	if o.Transport == "tls" {
		if o.Role == "server" {
			cfg.TLS = &nodeipc.TLSConfig{Private: o.TLS.Key, Public: o.TLS.Cert}
		} else {
			// One-way TLS: the server is verified against the run's CA.
			cfg.TLS = &nodeipc.TLSConfig{TrustedConnections: []string{o.TLS.CA}}
		}
	}
	if o.Role != "server" {
		cfg.MaxRetries = 0
	}
	return cfg
}

// Req is the typical lane's request, and the reply the server echoes: data
// as a program sends it, a struct with the sequence number as a field.
type Req struct {
	Seq     int64  `json:"seq"`
	Payload string `json:"payload"`
}

// reqPayload makes a Req's frame as long as a frame of node-ipc's method:
// 101 bytes with a six-digit sequence number, 100 with five.
var reqPayload = strings.Repeat("a", 39)

// method is how a Go client makes request seq, and reads the sequence
// number back from a reply.
type method interface {
	request(seq int) any
	replySeq(m *nodeipc.Message) (int, error)
}

// typical is the library used as its README teaches: Emit encodes a struct
// per request, and each reply is decoded into a struct with
// Message.Decode.
type typical struct{}

func (typical) request(seq int) any { return Req{Seq: int64(seq), Payload: reqPayload} }

func (typical) replySeq(m *nodeipc.Message) (int, error) {
	var r Req
	if err := m.Decode(&r); err != nil {
		return -1, fmt.Errorf("reply %q: %w", m.Data, err)
	}
	return int(r.Seq), nil
}

// tuned is the hand-tuned client: node-ipc's 64-byte string payload,
// encoded once and rewritten in place for each request, and the sequence
// number read from the reply's bytes by hand.
type tuned struct{ pl *reusedPayload }

func (t tuned) request(seq int) any { return t.pl.of(seq) }

func (tuned) replySeq(m *nodeipc.Message) (int, error) {
	if n := seqOf(m.Data); n >= 0 {
		return n, nil
	}
	return -1, fmt.Errorf("no sequence number in the reply %q", m.Data)
}

func (o peerOpts) method() method {
	if o.Style == "tuned" {
		return tuned{newReusedPayload()}
	}
	return typical{}
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

// control answers the run on stdin until it closes: to the line "stats" a
// peer prints the CPU time it has used and its resident memory now.
//
// With NODEIPC_BENCH_PROFILE set, it also writes a heap profile there at
// each "stats", the last one kept (for the idle lane: with every
// connection open).
func control(o peerOpts) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "stats" {
			continue
		}
		if dir := os.Getenv("NODEIPC_BENCH_PROFILE"); dir != "" {
			if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-heap-%d.pprof", o.Transport, o.label(), os.Getpid()))); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
		fmt.Printf("{\"ev\":\"stats\",\"cpu_us\":%d,\"rss_kib\":%d,\"goroutines\":%d}\n",
			selfCPU().Microseconds(), selfRSSKiB(), runtime.NumGoroutine())
	}
}

// goServer echoes every frame to its sender, over any transport, as the
// README teaches: the received data, emitted back as it is (acknowledged,
// to a client that uses acknowledged delivery). In mode "req" it answers
// requests instead, the reply's data the request's as it came.
func goServer(o peerOpts) error {
	cfg := o.config()
	srv, err := nodeipc.NewServer(o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	if o.Mode == modeRequest {
		srv.Handle(reqEvent, func(_ context.Context, m *nodeipc.Message) (any, error) { return m.Data, nil })
	} else {
		srv.On(event, func(m *nodeipc.Message) {
			if err := srv.Emit(m.Socket, event, m.Data); err != nil && o.Mode == modeAcked {
				// An acknowledged message the server refused would stall
				// the pass: end it, saying why.
				fmt.Fprintln(os.Stderr, "bench peer: acknowledged echo:", err)
				os.Exit(1)
			}
		})
	}
	if err := srv.Start(); err != nil {
		return err
	}
	ready()
	control(o)
	return srv.Shutdown(context.Background())
}

// stats follows the requests of one pass. A request ends when its reply
// arrives or, on a datagram transport, when it is given up as lost after a
// timeout; a reply that comes later is ignored. Figures cover the requests
// after the warm-up, and time runs from the end of the warm-up to the last
// reply.
//
// As in node-ipc's method, a throughput pass (more than one request in
// flight over a stream) times the pass, not each request: the clock is read
// when the warm-up ends and at the last reply, and no latency is recorded.
// Latency passes (one in flight) and datagram passes (whose lost requests
// are found by their send times) time every request and reply.
//
// Send times are kept as offsets from base, not as time.Time values: an
// array of those holds a pointer each (their location), which the garbage
// collector would scan, 200,000 of them, in every cycle of the measured
// process.
type stats struct {
	warmup, total int
	cpu0          time.Duration // this process's CPU time when the measured requests began
	base          time.Time
	sent          []time.Duration // since base
	ended         []bool
	lat           []time.Duration
	start, last   time.Duration // since base
	lastReply     time.Duration // since base; or the start of the pass
	resolved      int           // requests ended, warm-up included
	answered      int           // measured requests answered
	lost          int           // measured requests given up
	oldest        int           // no request below it is still waiting
	timed         bool          // every request and reply is timed
}

func newStats(o peerOpts) *stats {
	total := o.Warmup + o.Count
	s := &stats{warmup: o.Warmup, total: total, base: time.Now(), ended: make([]bool, total),
		timed: timedPass(o.Transport, o.Inflight)}
	if s.timed {
		s.sent, s.lat = make([]time.Duration, total), make([]time.Duration, 0, o.Count)
	}
	return s
}

// stamp records that request seq is sent now, in a timed pass.
func (s *stats) stamp(seq int) {
	if s.timed {
		s.sent[seq] = s.now()
	}
}

// now is the time since base. time.Since reads only the monotonic clock,
// where time.Now reads the wall clock too: a timed pass reads it for every
// request and every reply, and the harness's own cost counts in the
// client's CPU.
func (s *stats) now() time.Duration { return time.Since(s.base) }

// sinceReply is how long before t the last reply came.
func (s *stats) sinceReply(t time.Time) time.Duration { return t.Sub(s.base) - s.lastReply }

// begin marks the start of the pass, and starts the clock when there is no
// warm-up.
func (s *stats) begin() {
	s.lastReply = s.now()
	if s.warmup == 0 {
		s.start = s.lastReply
		s.measuring()
	}
}

// measuring notes this process's CPU time as the measured requests begin,
// and tells the run, which asks the server for its own.
func (s *stats) measuring() {
	s.cpu0 = selfCPU()
	fmt.Println(`{"ev":"measuring"}`)
}

// got records the reply to seq; it reports false for a reply that ends
// nothing (late, duplicated or garbled).
func (s *stats) got(seq int) bool {
	if seq < 0 || seq >= s.total || s.ended[seq] {
		return false
	}
	if seq >= s.warmup {
		s.answered++
	}
	if !s.timed {
		// Only the end of the warm-up and the last reply read the clock
		// (end uses now only at the end of the warm-up).
		var now time.Duration
		if s.resolved+1 == s.warmup || s.resolved+1 == s.total {
			now = s.now()
			s.lastReply, s.last = now, now
		}
		s.end(seq, now)
		return true
	}
	now := s.now()
	s.lastReply = now
	if seq >= s.warmup {
		s.lat = append(s.lat, now-s.sent[seq])
		s.last = now
	}
	s.end(seq, now)
	return true
}

func (s *stats) end(seq int, now time.Duration) {
	s.ended[seq] = true
	s.resolved++
	if s.resolved == s.warmup {
		s.start, s.last = now, now
		s.measuring()
	}
}

// expire gives up the requests below next sent before deadline that are
// still waiting, and returns how many it gave up.
func (s *stats) expire(next int, deadline time.Time) int {
	n := 0
	now := s.now()
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
	cpu := selfCPU() - s.cpu0
	elapsed := s.last - s.start
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	q := func(p float64) float64 {
		if len(s.lat) == 0 {
			return 0
		}
		return float64(s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))].Nanoseconds()) / 1000
	}
	count := s.answered
	rate := 0.0
	if elapsed > 0 {
		rate = float64(count) / elapsed.Seconds()
	}
	b, _ := json.Marshal(map[string]any{"ev": "result", "count": count, "elapsed_ns": elapsed.Nanoseconds(),
		"rtt_per_sec": rate, "p50_us": q(0.5), "p99_us": q(0.99), "lost": s.lost, "cpu_us": cpu.Microseconds()})
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
	cfg := o.config()
	c, err := nodeipc.NewClient("bench", o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	meth := o.method()
	st := newStats(o)
	next := 0
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	send := func() {
		st.stamp(next)
		if err := c.Emit(event, meth.request(next)); err != nil {
			finish(err)
		}
		next++
	}
	c.On(event, func(m *nodeipc.Message) {
		seq, err := meth.replySeq(m)
		if err != nil {
			finish(err)
			return
		}
		if !st.got(seq) {
			return
		}
		if st.complete() {
			finish(nil)
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
	var lastErr atomic.Pointer[error]
	c.On("error", func(m *nodeipc.Message) { lastErr.Store(&m.Err) })
	c.On("destroy", func(*nodeipc.Message) {
		why := "the client gave up on " + o.address() + " before the pass ended"
		if e := lastErr.Load(); e != nil {
			why += fmt.Sprintf(": %v", *e)
		}
		finish(errors.New(why))
	})
	c.Connect()
	if err := <-done; err != nil {
		return err
	}
	st.print()
	if o.Mode == modeAcked {
		// Every echo came back; the server's acknowledgements of the last
		// messages may still be on their way.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Flush(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("flushing the acknowledged messages: %w", err)
		}
	}
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
	go func() { control(o); ln.Close() }()
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
