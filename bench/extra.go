package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"time"
)

func sortBy[T any](s []T, key func(T) float64) {
	sort.SliceStable(s, func(i, j int) bool { return key(s[i]) < key(s[j]) })
}

// loadPairs are the pairs the load lane runs.
var loadPairs = []lane{lanes[0], lanes[1], noSpinLane}

// background is a CPU-bound process run alongside a pass: one busy loop,
// one core kept busy.
type background struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startBackground starts the busy loop and waits until it runs.
func (b *bench) startBackground() (*background, error) {
	cmd := exec.Command(b.self, "busy")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !containsEv(line, "ready") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the background load did not start (%q, %v)", line, err)
	}
	return &background{cmd: cmd, stdin: stdin}, nil
}

// stop ends the busy loop (by closing its stdin) and reports the CPU time
// it used; a loop that does not end when asked is killed, and that is an
// error.
func (g *background) stop() (time.Duration, error) {
	g.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(answerWait):
		_ = g.cmd.Process.Kill()
		<-done
		err = errors.New("the background load did not end when asked")
	}
	ps := g.cmd.ProcessState
	return ps.UserTime() + ps.SystemTime(), err
}

// underLoad runs fn with the background load running.
func (b *bench) underLoad(fn func() error) error {
	g, err := b.startBackground()
	if err != nil {
		return err
	}
	ferr := fn()
	if _, err := g.stop(); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

// loadRow is one pair's latency at 1 in flight, without and with the
// background load (medians).
type loadRow struct {
	Transport, Lane                 string
	QuietP50us, QuietP99us          float64
	LoadedP50us, LoadedP99us        float64
	QuietCPUus, LoadedCPUus         float64 // per round trip, both processes
	QuietRTTPerSec, LoadedRTTPerSec float64
}

type loadRuns struct{ quiet, loaded map[laneKey][]measure }

func newLoadRuns() *loadRuns {
	return &loadRuns{quiet: map[laneKey][]measure{}, loaded: map[laneKey][]measure{}}
}

// loadLanes runs each load pair over each of the plan's transports once,
// quiet and loaded (loaded first every other repetition).
func (b *bench) loadLanes(p plan, runs *loadRuns, rep int, rev bool, progress io.Writer) error {
	for _, tr := range p.extraTransports() {
		for _, l := range ordered(loadPairs, rev) {
			k := laneKey{tr, l.id}
			var quiet, loaded measure
			passes := []func() error{
				func() (err error) { quiet, err = b.runLane(tr, l, 1, p.latCount, p.latCount/10); return err },
				func() error {
					return b.underLoad(func() (err error) {
						loaded, err = b.runLane(tr, l, 1, p.latCount, p.latCount/10)
						return err
					})
				},
			}
			for _, pass := range ordered(passes, rev) {
				if err := pass(); err != nil {
					return fmt.Errorf("load lane, %s over %s: %w", l.name, tr, err)
				}
			}
			runs.quiet[k] = append(runs.quiet[k], quiet)
			runs.loaded[k] = append(runs.loaded[k], loaded)
			fmt.Fprintf(progress, "rep %d %-4s load  %-29s p50 %6.1f → %6.1f µs  p99 %7.1f → %7.1f µs\n", rep+1, tr, l.name,
				quiet.P50us, loaded.P50us, quiet.P99us, loaded.P99us)
		}
	}
	return nil
}

func (runs *loadRuns) rows(p plan) []loadRow {
	var rows []loadRow
	for _, tr := range p.extraTransports() {
		for _, l := range loadPairs {
			k := laneKey{tr, l.id}
			r := loadRow{Transport: tr, Lane: l.name}
			r.QuietP50us, r.QuietP99us = medianLatency(runs.quiet[k])
			r.LoadedP50us, r.LoadedP99us = medianLatency(runs.loaded[k])
			var qc, lc, qr, lr []float64
			for _, m := range runs.quiet[k] {
				qc, qr = append(qc, m.cpuPerRT()), append(qr, m.RTTPerSec)
			}
			for _, m := range runs.loaded[k] {
				lc, lr = append(lc, m.cpuPerRT()), append(lr, m.RTTPerSec)
			}
			r.QuietCPUus, r.LoadedCPUus, r.QuietRTTPerSec, r.LoadedRTTPerSec = med(qc), med(lc), med(qr), med(lr)
			rows = append(rows, r)
		}
	}
	return rows
}

// ratePairs are the servers the rates lane runs, each with clients of its
// own kind.
var ratePairs = []lane{
	{id: "node", name: "node-ipc 14 server ← node-ipc 14 clients", server: "node", client: "node"},
	{id: "typical", name: "nodeipc server ← nodeipc clients", server: "go", client: "go", style: "typical"},
	{id: "typical-nospin", name: "nodeipc, ReadSpin -1", server: "go", client: "go", style: "typical", noSpin: true},
	{id: "typical-procs1", name: "nodeipc, server at GOMAXPROCS=1", server: "go", client: "go", style: "typical", procs: 1},
}

// rateMeasure is one paced pass's figures.
type rateMeasure struct {
	asked, delivered float64 // requests a second
	server, both     float64 // CPU, % of one core
	p50us, p99us     float64
	sent             int // in the window
	window           time.Duration
}

// runRates runs a server and a client process with conns connections paced
// to rate requests a second in all, and measures the window after warmup.
func (b *bench) runRates(transport string, l lane, rate float64, conns int, warmup, window time.Duration) (rateMeasure, error) {
	opts, cleanup, err := b.endpoint(transport)
	if err != nil {
		return rateMeasure{}, err
	}
	defer cleanup()
	if l.noSpin {
		opts["no_spin"] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), passTimeout)
	defer cancel()
	if l.procs > 0 {
		opts["procs"] = l.procs
	}
	srv, err := b.startServer(ctx, l.server, opts)
	if err != nil {
		return rateMeasure{}, err
	}
	delete(opts, "procs")
	opts["role"], opts["conns"], opts["rate"] = "rates", conns, rate
	opts["warmup_ms"], opts["during_ms"] = warmup.Milliseconds(), window.Milliseconds()
	var res result
	var s0, s1 peerStats
	found, began := false, false
	_, cerr := b.runClient(ctx, l.client, opts, func(ev string, line []byte, _ func()) error {
		var err error
		switch ev {
		case "measuring":
			began = true
			s0, err = srv.sample()
		case "result":
			if err = json.Unmarshal(line, &res); err == nil {
				found = true
				s1, err = srv.sample()
			}
		}
		return err
	})
	_, serr := srv.stop()
	switch {
	case cerr != nil:
		return rateMeasure{}, cerr
	case serr != nil:
		return rateMeasure{}, serr
	case !found || !began:
		return rateMeasure{}, errors.New("no figures from the client")
	case res.Sent == 0 || res.ElapsedNS <= 0:
		return rateMeasure{}, fmt.Errorf("nothing measured: %+v", res)
	case res.Count != res.Sent:
		return rateMeasure{}, fmt.Errorf("%d replies to %d requests", res.Count, res.Sent)
	}
	win := time.Duration(res.ElapsedNS)
	pct := func(us int64) float64 { return 100 * float64(us) * 1000 / float64(win.Nanoseconds()) }
	return rateMeasure{asked: rate, delivered: res.RTTPerSec, server: pct(s1.CPUus - s0.CPUus),
		both: pct(s1.CPUus - s0.CPUus + res.CPUus), p50us: res.P50us, p99us: res.P99us,
		sent: res.Sent, window: win}, nil
}

// rateRow is one server's figures at one rate (medians).
type rateRow struct {
	Transport, Lane          string
	Conns                    int
	Asked, Delivered         float64 // requests a second
	ServerCPUPct, BothCPUPct float64 // % of one core
	P50us, P99us             float64
}

type rateKey struct {
	laneKey
	rate float64
}

type rateRuns map[rateKey][]rateMeasure

func newRateRuns() rateRuns { return rateRuns{} }

func (b *bench) rateLanes(p plan, runs rateRuns, rep int, rev bool, progress io.Writer) error {
	for _, tr := range p.extraTransports() {
		for _, rate := range p.rates {
			for _, l := range ordered(ratePairs, rev) {
				m, err := b.runRates(tr, l, rate, p.rateConns, p.rateWarmup, p.rateFor)
				if err != nil {
					return fmt.Errorf("rates lane, %s over %s at %.0f/s: %w", l.name, tr, rate, err)
				}
				k := rateKey{laneKey{tr, l.id}, rate}
				runs[k] = append(runs[k], m)
				fmt.Fprintf(progress, "rep %d %-4s rates %-40s %6.0f/s asked %8.0f/s done  server %5.2f%% both %5.2f%% of a core  p50 %6.1f µs\n",
					rep+1, tr, l.name, rate, m.delivered, m.server, m.both, m.p50us)
			}
		}
	}
	return nil
}

func (runs rateRuns) rows(p plan) []rateRow {
	var rows []rateRow
	for _, tr := range p.extraTransports() {
		for _, rate := range p.rates {
			for _, l := range ratePairs {
				ms := runs[rateKey{laneKey{tr, l.id}, rate}]
				r := rateRow{Transport: tr, Lane: l.name, Conns: p.rateConns, Asked: rate}
				var d, s, both, p50, p99 []float64
				for _, m := range ms {
					d, s, both = append(d, m.delivered), append(s, m.server), append(both, m.both)
					p50, p99 = append(p50, m.p50us), append(p99, m.p99us)
				}
				r.Delivered, r.ServerCPUPct, r.BothCPUPct, r.P50us, r.P99us = med(d), med(s), med(both), med(p50), med(p99)
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// idlePairs are the servers the idle lane runs; the connections come from a
// plain client (no library) in both.
var idlePairs = []lane{
	{id: "node", name: "node-ipc 14 server", server: "node", client: "raw"},
	{id: "typical", name: "nodeipc server", server: "go", client: "raw"},
}

// idleMeasure is one idle pass's figures: the server's resident memory
// before the connections and with them all open and idle.
type idleMeasure struct {
	conns         int
	before, after int64 // KiB
	goroutines    int   // a Go server's, with the connections
}

func (m idleMeasure) perConnKiB() float64 {
	if m.conns == 0 {
		return 0
	}
	return float64(m.after-m.before) / float64(m.conns)
}

// runIdle starts a server, reads its memory, opens conns connections to it
// from one client process (one request on each, then idle), and reads it
// again once they are all open, settle after each step.
func (b *bench) runIdle(transport string, l lane, conns int, settle time.Duration) (idleMeasure, error) {
	opts, cleanup, err := b.endpoint(transport)
	if err != nil {
		return idleMeasure{}, err
	}
	defer cleanup()
	opts["max_conns"] = conns + 16
	ctx, cancel := context.WithTimeout(context.Background(), passTimeout)
	defer cancel()
	srv, err := b.startServer(ctx, l.server, opts)
	if err != nil {
		return idleMeasure{}, err
	}
	time.Sleep(settle)
	s0, err := srv.sample()
	if err != nil {
		_, _ = srv.stop()
		return idleMeasure{}, err
	}
	opts["role"], opts["conns"] = "idle", conns
	var s1 peerStats
	held := 0
	_, cerr := b.runClient(ctx, l.client, opts, func(ev string, line []byte, closeStdin func()) error {
		if ev != "connected" {
			return nil
		}
		var v struct{ Count int }
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		held = v.Count
		time.Sleep(settle)
		var err error
		s1, err = srv.sample()
		closeStdin()
		return err
	})
	_, serr := srv.stop()
	switch {
	case cerr != nil:
		return idleMeasure{}, cerr
	case serr != nil:
		return idleMeasure{}, serr
	case held != conns:
		return idleMeasure{}, fmt.Errorf("%d connections held, want %d", held, conns)
	}
	return idleMeasure{conns: conns, before: s0.RSSKiB, after: s1.RSSKiB, goroutines: s1.Goroutines}, nil
}

// idleRow is one server's memory with its idle connections (medians).
type idleRow struct {
	Transport, Lane     string
	Conns               int
	BeforeMiB, AfterMiB float64
	PerConnKiB          float64
}

type idleRuns map[laneKey][]idleMeasure

func newIdleRuns() idleRuns { return idleRuns{} }

func (b *bench) idleLanes(p plan, runs idleRuns, rep int, rev bool, progress io.Writer) error {
	for _, tr := range p.extraTransports() {
		for _, l := range ordered(idlePairs, rev) {
			m, err := b.runIdle(tr, l, p.idleConns, p.idleSettle)
			if err != nil {
				return fmt.Errorf("idle lane, %s over %s: %w", l.name, tr, err)
			}
			k := laneKey{tr, l.id}
			runs[k] = append(runs[k], m)
			gs := ""
			if m.goroutines > 0 {
				gs = fmt.Sprintf(", %d goroutines", m.goroutines)
			}
			fmt.Fprintf(progress, "rep %d %-4s idle  %-20s %d connections: RSS %.1f → %.1f MiB, %.1f KiB each%s\n",
				rep+1, tr, l.name, m.conns, float64(m.before)/1024, float64(m.after)/1024, m.perConnKiB(), gs)
		}
	}
	return nil
}

func (runs idleRuns) rows(p plan) []idleRow {
	var rows []idleRow
	for _, tr := range p.extraTransports() {
		for _, l := range idlePairs {
			r := idleRow{Transport: tr, Lane: l.name, Conns: p.idleConns}
			var before, after, per []float64
			for _, m := range runs[laneKey{tr, l.id}] {
				before, after = append(before, float64(m.before)/1024), append(after, float64(m.after)/1024)
				per = append(per, m.perConnKiB())
			}
			r.BeforeMiB, r.AfterMiB, r.PerConnKiB = med(before), med(after), med(per)
			rows = append(rows, r)
		}
	}
	return rows
}
