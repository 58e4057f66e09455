package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc"
)

const event = "benchmark.frame"

type peerOpts struct {
	Impl      string `json:"impl"` // "go" or "raw"
	Role      string `json:"role"`
	Transport string `json:"transport"`
	Path      string `json:"path"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Inflight  int    `json:"inflight"`
	Count     int    `json:"count"`
	Warmup    int    `json:"warmup"`
}

func (o peerOpts) address() string {
	if o.Transport == "unix" {
		return o.Path
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func runPeer(arg string) error {
	var o peerOpts
	if err := json.Unmarshal([]byte(arg), &o); err != nil {
		return err
	}
	switch {
	case o.Impl == "go" && o.Role == "server":
		return goServer(o)
	case o.Impl == "go":
		return goClient(o)
	case o.Role == "server":
		return rawServer(o)
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

func goServer(o peerOpts) error {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
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

// stats collects round-trip latencies of the measured part.
type stats struct {
	warmup, total int
	sent          []time.Time
	lat           []time.Duration
	start         time.Time
}

func newStats(o peerOpts) *stats {
	total := o.Warmup + o.Count
	return &stats{warmup: o.Warmup, total: total, sent: make([]time.Time, total), lat: make([]time.Duration, 0, o.Count)}
}

// got records a reply; it returns true when the run is complete.
func (s *stats) got(seq, received int) bool {
	now := time.Now()
	if seq >= s.warmup && seq < s.total {
		s.lat = append(s.lat, now.Sub(s.sent[seq]))
	}
	if received == s.warmup {
		s.start = now
	}
	return received == s.total
}

func (s *stats) print() {
	elapsed := time.Since(s.start)
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	q := func(p float64) float64 {
		if len(s.lat) == 0 {
			return 0
		}
		return float64(s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))].Nanoseconds()) / 1000
	}
	count := s.total - s.warmup
	b, _ := json.Marshal(map[string]any{"ev": "result", "count": count, "elapsed_ns": elapsed.Nanoseconds(),
		"rtt_per_sec": float64(count) / elapsed.Seconds(), "p50_us": q(0.5), "p99_us": q(0.99), "lost": 0})
	fmt.Println(string(b))
}

func seqOf(data []byte) int {
	n, _ := strconv.ParseUint(string(data[1:9]), 16, 32)
	return int(n)
}

func goClient(o peerOpts) error {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.MaxRetries = 0
	c, err := nodeipc.NewClient("bench", o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	st := newStats(o)
	next, received := 0, 0
	done := make(chan error, 1)
	send := func() {
		st.sent[next] = time.Now()
		if err := c.Emit(event, payload(next)); err != nil {
			done <- err
		}
		next++
	}
	c.On(event, func(m *nodeipc.Message) {
		received++
		if st.got(seqOf(m.Data), received) {
			done <- nil
			return
		}
		if next < st.total {
			send()
		}
	})
	c.On("connect", func(*nodeipc.Message) {
		if st.warmup == 0 {
			st.start = time.Now()
		}
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

// rawServer reflects bytes: the ceiling of the socket itself.
func rawServer(o peerOpts) error {
	ln, err := net.Listen(o.Transport, o.address())
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

// rawClient writes the same 101-byte frames and splits replies on \f,
// without JSON.
func rawClient(o peerOpts) error {
	c, err := net.Dial(o.Transport, o.address())
	if err != nil {
		return err
	}
	defer c.Close()
	st := newStats(o)
	frame := func(dst []byte, seq int) []byte {
		f, _ := nodeipc.EncodeFrame(event, payload(seq))
		return append(dst, f...)
	}
	const prefix = len(`{"type":"benchmark.frame","data":`)
	next, received := 0, 0
	var out []byte
	if st.warmup == 0 {
		st.start = time.Now()
	}
	for ; next < o.Inflight && next < st.total; next++ {
		st.sent[next] = time.Now()
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
			received++
			if st.got(seqOf(rest[prefix:i]), received) {
				st.print()
				return nil
			}
			rest = rest[i+1:]
			if next < st.total {
				st.sent[next] = time.Now()
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
