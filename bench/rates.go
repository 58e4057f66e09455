package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
)

// tickEvery is how often a rates client sends what has come due.
const tickEvery = time.Millisecond

// due is how many requests connection i of conns has to have sent t into a
// pass paced to rate requests a second in all. Each connection sends
// rate/conns a second, connection i its first at i/conns of its period, so
// that the connections take turns; the sum over the connections is within
// conns of rate × t.
func due(rate float64, conns, i int, t time.Duration) int {
	x := t.Seconds()*rate/float64(conns) - float64(i)/float64(conns)
	if x < 0 {
		return 0
	}
	return int(x) + 1
}

// paced follows the requests of a rates pass: every request is answered,
// and the figures cover those sent in the measured window.
type paced struct {
	mu       sync.Mutex
	base     time.Time
	sent     []time.Duration // by sequence number, since base
	answered int
	seq0     int // first request of the window
	seq1     int // first request after it; -1 while sending
	lat      []time.Duration
	allIn    chan struct{} // closed when every request sent is answered, after the last
	cpu0     time.Duration
}

// stamp numbers the next request and notes when it is sent.
func (p *paced) stamp() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, time.Since(p.base))
	return len(p.sent) - 1
}

// got records the reply to seq; a reply to no request sent, or a second one,
// is an error.
func (p *paced) got(seq int) error {
	at := time.Since(p.base)
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq < 0 || seq >= len(p.sent) || p.sent[seq] < 0 {
		return fmt.Errorf("a reply to request %d, which is not waiting", seq)
	}
	if seq >= p.seq0 && (p.seq1 < 0 || seq < p.seq1) {
		p.lat = append(p.lat, at-p.sent[seq])
	}
	p.sent[seq] = -1
	p.answered++
	if p.seq1 >= 0 && p.answered == len(p.sent) {
		close(p.allIn)
	}
	return nil
}

// window marks the start (end false) or the end of the measured requests:
// those sent from now on, or no more.
func (p *paced) window(end bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !end {
		p.seq0 = len(p.sent)
		return
	}
	p.seq1 = len(p.sent)
	if p.answered == len(p.sent) {
		close(p.allIn)
	}
}

// goRatesClient runs o.Conns nodeipc clients in this process, each written
// as the README teaches (Emit of a Req, Message.Decode of the reply), and
// paces their requests with one ticker to o.Rate a second in all: o.WarmupMS
// first, then the measured window of o.DuringMS. Then it waits for every
// reply and prints the window's figures.
func goRatesClient(o peerOpts) error {
	if o.Conns <= 0 || o.Rate <= 0 {
		return errors.New("a rates client needs conns and rate")
	}
	cfg := o.config()
	p := &paced{base: time.Now(), seq0: math.MaxInt, seq1: -1, allIn: make(chan struct{}),
		sent: make([]time.Duration, 0, int(o.Rate*float64(o.WarmupMS+o.DuringMS)/1000)+o.Conns+64)}
	fail := make(chan error, 1)
	failed := func(err error) {
		select {
		case fail <- err:
		default:
		}
	}
	connected := make(chan struct{}, o.Conns)
	clients := make([]*nodeipc.Client, o.Conns)
	for i := range clients {
		c, err := nodeipc.NewClient(fmt.Sprintf("bench%d", i), o.Transport, o.address(), &cfg)
		if err != nil {
			return err
		}
		clients[i] = c
		c.On(event, func(m *nodeipc.Message) {
			var r Req
			if err := m.Decode(&r); err != nil {
				failed(fmt.Errorf("reply %q: %w", m.Data, err))
				return
			}
			if err := p.got(int(r.Seq)); err != nil {
				failed(err)
			}
		})
		c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
		c.On("destroy", func(*nodeipc.Message) { failed(fmt.Errorf("could not connect to %s", o.address())) })
		c.Connect()
	}
	defer func() {
		for _, c := range clients {
			c.Disconnect()
		}
	}()
	for range clients {
		select {
		case <-connected:
		case err := <-fail:
			return err
		}
	}

	warmup := time.Duration(o.WarmupMS) * time.Millisecond
	end := warmup + time.Duration(o.DuringMS)*time.Millisecond
	sent := make([]int, len(clients))
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	t0 := time.Now()
	var w0, w1 time.Duration // the window, since t0
	for started := false; ; {
		select {
		case <-tick.C:
		case err := <-fail:
			return err
		}
		t := time.Since(t0)
		for i, c := range clients {
			for n := due(o.Rate, len(clients), i, t); sent[i] < n; sent[i]++ {
				if err := c.Emit(event, Req{Seq: int64(p.stamp()), Payload: reqPayload}); err != nil {
					return err
				}
			}
		}
		if !started && t >= warmup {
			started, w0 = true, t
			p.window(false)
			p.cpu0 = selfCPU()
			fmt.Println(`{"ev":"measuring"}`)
		} else if started && t >= end {
			w1 = t
			p.window(true)
			break
		}
	}
	tick.Stop()
	select {
	case <-p.allIn:
	case err := <-fail:
		return err
	case <-time.After(10 * time.Second):
		p.mu.Lock()
		defer p.mu.Unlock()
		return fmt.Errorf("%d of %d requests unanswered 10 s after the last", len(p.sent)-p.answered, len(p.sent))
	}
	p.printResult(w1 - w0)
	return nil
}

// printResult prints the window's figures: requests sent in it (all of them
// answered), its length, the rate delivered, latencies, and this process's
// CPU time since the window began.
func (p *paced) printResult(window time.Duration) {
	cpu := selfCPU() - p.cpu0
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.seq1 - p.seq0
	sort.Slice(p.lat, func(i, j int) bool { return p.lat[i] < p.lat[j] })
	q := func(f float64) float64 {
		if len(p.lat) == 0 {
			return 0
		}
		return float64(p.lat[min(len(p.lat)-1, int(f*float64(len(p.lat))))].Nanoseconds()) / 1000
	}
	rate := 0.0
	if window > 0 {
		rate = float64(n) / window.Seconds()
	}
	b, _ := json.Marshal(map[string]any{"ev": "result", "count": len(p.lat), "sent": n,
		"elapsed_ns": window.Nanoseconds(), "rtt_per_sec": rate, "p50_us": q(0.5), "p99_us": q(0.99),
		"cpu_us": cpu.Microseconds()})
	fmt.Println(string(b))
}

// idleClient opens o.Conns plain connections to the server, one after the
// other; on each it sends one request frame and reads the reply. Then it
// prints {"ev":"connected"} and holds them, idle, until stdin closes.
func idleClient(o peerOpts) error {
	conns := make([]net.Conn, 0, o.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 4096)
	var out []byte
	for i := 0; i < o.Conns; i++ {
		c, err := net.Dial(o.Transport, o.address())
		if err != nil {
			return fmt.Errorf("connection %d of %d: %w (this process may open %d files)", i+1, o.Conns, err, fdLimit())
		}
		conns = append(conns, c)
		out = frame(out[:0], i)
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, o.Conns, err)
		}
		if err := readReply(c, buf); err != nil {
			return fmt.Errorf("connection %d of %d: no reply: %w", i+1, o.Conns, err)
		}
	}
	fmt.Printf("{\"ev\":\"connected\",\"count\":%d}\n", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// readReply reads from c up to the end of one frame.
func readReply(c net.Conn, buf []byte) error {
	for {
		n, err := c.Read(buf)
		for _, b := range buf[:n] {
			if b == '\f' {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}
