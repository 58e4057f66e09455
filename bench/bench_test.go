package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// TestMain lets the test binary act as a benchmark peer, as the command does.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "peer" {
		if err := runPeer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "busy" {
		busyLoop()
	}
	// Peers are this binary: under -race each would sleep a second on exit.
	os.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=0 "+os.Getenv("GORACE")))
	os.Exit(m.Run())
}

// TestLanesProduceFigures runs every round-trip lane once through the
// command's own path, with tiny counts: the plain lanes over every transport,
// the request and acked lanes over Unix sockets (asked for TLS and UDP4 as
// well, which they skip). A lane fails unless each request is answered or,
// over UDP, counted lost, with at least one answered. It checks that every
// row of the table has figures, CPU time per round trip included, and
// asserts nothing about speed.
func TestLanesProduceFigures(t *testing.T) {
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var plain, modes []lane
	for _, l := range lanes {
		if l.mode == "" {
			plain = append(plain, l)
		} else {
			modes = append(modes, l)
		}
	}
	var rows []row
	for _, p := range []plan{
		{transports: allTransports, lanes: plain},
		{transports: []string{"tls", "unix", "udp4"}, lanes: modes},
	} {
		p.reps, p.count, p.latCount = 1, 500, 100
		rep, err := b.measure(p, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Load)+len(rep.Rates)+len(rep.Idle) > 0 {
			t.Errorf("lanes that were not asked for ran: %+v", rep)
		}
		rows = append(rows, rep.Lanes...)
	}
	want := len(modes)
	for _, l := range plain {
		want += len(l.transports(allTransports))
	}
	if len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	for _, r := range rows {
		if l, _ := laneByID(r.ID); !l.runsOver(r.Transport) {
			t.Errorf("%s ran over %s", r.Lane, r.Transport)
		}
		if r.RTTPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.LostPct >= 100 || r.CPUus64 <= 0 || r.CPUus1 <= 0 {
			t.Errorf("%s over %s: no figures: %+v", r.Lane, r.Transport, r)
		}
		if r.Lost > 0 {
			t.Logf("%s over %s: %d requests lost (%.1f%%)", r.Lane, r.Transport, r.Lost, r.LostPct)
		}
	}
}

// TestLanesFilter checks -lanes: the ids it takes, the table's order
// whatever the order asked, and a clear error for an unknown id.
func TestLanesFilter(t *testing.T) {
	rt, extra, err := parseLanes("idle,typical,node, load")
	if err != nil {
		t.Fatal(err)
	}
	if len(rt) != 2 || rt[0].id != "node" || rt[1].id != "typical" || !extra["idle"] || !extra["load"] || extra["rates"] {
		t.Errorf("parseLanes: %+v %v", rt, extra)
	}
	if _, _, err := parseLanes("typical,fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("an unknown lane: %v", err)
	}
	p := plan{transports: []string{"tls", "tcp", "udp4", "unix"}}
	if got := strings.Join(p.extraTransports(), ","); got != "tcp,unix" {
		t.Errorf("the extra lanes run over %s, want tcp,unix", got)
	}

	rt, _, err = parseLanes("ack-node-go,req,node,ack,req-go-node,req-node-go,req-node")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range rt {
		ids = append(ids, l.id)
		if l.id != "node" {
			if got := strings.Join(l.transports(p.transports), ","); got != "tcp,unix" {
				t.Errorf("%s runs over %s, want tcp,unix", l.id, got)
			}
			if _, ok := laneByID(l.base); !ok || l.mode == "" {
				t.Errorf("%s: mode %q, compared with %q", l.id, l.mode, l.base)
			}
		}
	}
	if got := strings.Join(ids, ","); got != "node,req,req-go-node,req-node-go,req-node,ack,ack-node-go" {
		t.Errorf("lanes in the order %s", got)
	}
}

// TestAgainstPlainLanes checks the request and acked table's comparison: a
// lane's round trips/s as a share of its plain lane's over the same
// transport, and the CPU time per round trip it adds; none without that
// plain lane in the run.
func TestAgainstPlainLanes(t *testing.T) {
	all := []row{
		{Transport: "unix", ID: "typical", RTTPerSec: 400000, CPUus64: 2},
		{Transport: "tcp", ID: "typical", RTTPerSec: 300000, CPUus64: 3},
		{Transport: "tcp", ID: "req", RTTPerSec: 150000, CPUus64: 4.5},
		{Transport: "unix", ID: "ack-node-go", RTTPerSec: 1000, CPUus64: 50},
	}
	base, rate, cpu, ok := against(all[2], all)
	if !ok || base != "typical" || rate != 0.5 || cpu != 1.5 {
		t.Errorf("req over tcp: %q %v %v %v", base, rate, cpu, ok)
	}
	if got := againstText(all[2], all); got != "0.50× / +1.50 µs (typical)" {
		t.Errorf("req over tcp: %q", got)
	}
	if got := againstText(all[3], all); got != "–" {
		t.Errorf("ack-node-go without node-go: %q", got)
	}
	plain, modes := splitRows(all)
	if len(plain) != 2 || len(modes) != 2 || modes[0].ID != "req" {
		t.Errorf("split: %+v / %+v", plain, modes)
	}
}

// TestRatiosByRepetition checks the summary line's ratios: medians against
// medians, and repetition by repetition when there was more than one.
func TestRatiosByRepetition(t *testing.T) {
	rep := report{Lanes: []row{
		{Transport: "unix", Lane: lanes[0].name, RTTPerSec: 100000, CPUus64: 14, P50us: 36, RTTByRep: []float64{80000, 100000, 130000}},
		{Transport: "unix", Lane: lanes[1].name, RTTPerSec: 600000, CPUus64: 3, P50us: 11, RTTByRep: []float64{480000, 600000, 610000}},
		{Transport: "tcp", Lane: lanes[0].name, RTTPerSec: 100000, CPUus64: 14, P50us: 36, RTTByRep: []float64{100000}},
		{Transport: "tcp", Lane: lanes[1].name, RTTPerSec: 500000, CPUus64: 3, P50us: 11, RTTByRep: []float64{500000}},
	}}
	var b strings.Builder
	printRatios(&b, []string{"unix", "tcp"}, rep)
	got := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(got) != 2 {
		t.Fatalf("%d lines: %q", len(got), b.String())
	}
	if !strings.Contains(got[0], "does 6.0x the round trips/s") || !strings.HasSuffix(got[0], "; typical by repetition 6.0x 6.0x 4.7x") {
		t.Errorf("unix: %s", got[0])
	}
	if !strings.Contains(got[1], "does 5.0x") || strings.Contains(got[1], "by repetition") {
		t.Errorf("tcp, one repetition: %s", got[1])
	}
	if s := byRepetition([]float64{1, 2}, []float64{1, 0}); s != "" {
		t.Errorf("a repetition without node-ipc's figure: %q", s)
	}
}

// TestModeServersAnswer starts the Go and the node-ipc server peers in each
// mode and talks to them from this process: in "req" mode a request comes
// back with the data sent; in "ack" mode a client with acknowledged
// delivery gets its message back as an acknowledged message (a session and
// a sequence number) and the server acknowledges it (Flush returns).
func TestModeServersAnswer(t *testing.T) {
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"go", "node"} {
		for _, mode := range []string{modeRequest, modeAcked} {
			t.Run(side+"-"+mode, func(t *testing.T) {
				opts, cleanup, err := b.endpoint("unix")
				if err != nil {
					t.Fatal(err)
				}
				defer cleanup()
				opts["mode"] = mode
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				srv, err := b.startServer(ctx, side, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.stop()
				cfg := nodeipc.DefaultConfig()
				cfg.Silent, cfg.MaxRetries, cfg.Acks = true, 0, mode == modeAcked
				c, err := nodeipc.NewClient("bench", "unix", opts["path"].(string), &cfg)
				if err != nil {
					t.Fatal(err)
				}
				echo := make(chan *nodeipc.Message, 1)
				c.On(event, func(m *nodeipc.Message) { echo <- m })
				c.Connect()
				defer c.Close(context.Background())
				sent := Req{Seq: 7, Payload: reqPayload}
				var m *nodeipc.Message
				if mode == modeRequest {
					if m, err = c.Request(ctx, reqEvent, sent); err != nil {
						t.Fatal(err)
					}
				} else {
					if err := c.Emit(event, sent); err != nil {
						t.Fatal(err)
					}
					select {
					case m = <-echo:
					case <-c.Done():
						t.Fatal("the client gave up")
					case <-ctx.Done():
						t.Fatal("no echo")
					}
					if m.Session == "" || m.Seq != 1 {
						t.Errorf("the echo is not an acknowledged message: session %q, seq %d", m.Session, m.Seq)
					}
					if err := c.Flush(ctx); err != nil {
						t.Errorf("Flush: %v", err)
					}
				}
				var got Req
				if err := m.Decode(&got); err != nil || got != sent {
					t.Errorf("reply %s (%v), want %+v", m.Data, err, sent)
				}
			})
		}
	}
}

// TestUDPLossIsCountedAndThePassGoesOn runs each kind of UDP client against
// a server that drops every 100th datagram: every pass ends, with the
// dropped requests counted lost.
func TestUDPLossIsCountedAndThePassGoesOn(t *testing.T) {
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.udpTimeout, b.dropEvery = 100*time.Millisecond, 100
	for _, client := range []string{"go", "node", "raw"} {
		for _, inflight := range []int{64, 1} {
			l := lane{name: "lossy raw server ← " + client, server: "raw", client: client, style: "typical"}
			// 550 requests, 50 of them warm-up: the server drops the 100th,
			// 200th, ... 500th it receives, all measured (give or take one
			// at the edge of the warm-up if datagrams cross).
			m, err := b.runLane("udp4", l, inflight, 500, 50)
			if err != nil {
				t.Fatalf("%s, %d in flight: %v", l.name, inflight, err)
			}
			t.Logf("%s, %d in flight: %d answered, %d lost", l.name, inflight, m.Count, m.Lost)
			if m.Lost < 4 {
				t.Errorf("%s, %d in flight: %d lost, want 5 or so (%+v)", l.name, inflight, m.Lost, m.result)
			}
		}
	}
}

// TestPayloadCarriesTheSequenceNumber checks the payload both kinds of
// client send, fresh or rewritten in place, and the reading of the sequence
// number back from a reply.
func TestPayloadCarriesTheSequenceNumber(t *testing.T) {
	pl := newReusedPayload()
	for _, n := range []int{0, 1, 0xff, 0xabcdef12, 200000, 0x7fffffff} {
		fresh := payload(n)
		if len(fresh) != 66 {
			t.Fatalf("payload(%d) is %d bytes, want 66 (64 in the string)", n, len(fresh))
		}
		reused := pl.of(n).(json.RawMessage)
		if string(reused) != string(fresh) {
			t.Errorf("rewritten payload for %d is %s, want %s", n, reused, fresh)
		}
		if got := seqOf(fresh); got != n {
			t.Errorf("seqOf(%s) = %d, want %d", fresh, got, n)
		}
	}
	for _, bad := range []string{``, `"0000`, `"0000000g`, `"ABCDEF12aaa"`, `{"x":1}`} {
		if got := seqOf([]byte(bad)); got != -1 {
			t.Errorf("seqOf(%q) = %d, want -1", bad, got)
		}
	}
}

// TestTypicalRequestsAreTheMethodsSize checks that the typical client's
// frames are as long as node-ipc's method's (101 bytes with a six-digit
// sequence number), and that the sequence number comes back from a reply
// the server echoed.
func TestTypicalRequestsAreTheMethodsSize(t *testing.T) {
	var m typical
	for _, n := range []int{0, 99999, 100000, 219999} {
		f, err := nodeipc.EncodeFrame(event, m.request(n))
		if err != nil {
			t.Fatal(err)
		}
		want := len(frame(nil, n))
		if n < 100000 {
			want -= 6 - len(strconv.Itoa(n))
		}
		if len(f) != want {
			t.Errorf("typical frame of request %d is %d bytes, want %d: %s", n, len(f), want, f)
		}
		data := f[len(`{"type":"benchmark.frame","data":`) : len(f)-2]
		got, err := m.replySeq(&nodeipc.Message{Type: event, Data: data})
		if err != nil || got != n {
			t.Errorf("replySeq(%s) = %d, %v; want %d", data, got, err, n)
		}
	}
	if _, err := m.replySeq(&nodeipc.Message{Type: event, Data: json.RawMessage(`"0000002aaa"`)}); err == nil {
		t.Error("a reply that is not a Req decoded without an error")
	}
}

// TestPinnedLanesRunOnTheirCPUs checks that with -pin every peer, node-ipc's
// and nodeipc's, starts under taskset on its role's CPU, and that a pinned
// lane runs to the end.
func TestPinnedLanesRunOnTheirCPUs(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("pinning needs Linux and 2 CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("no taskset")
	}
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pin(); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"node", "go", "raw"} {
		for role, cpu := range map[string]string{"server": "0", "client": "1"} {
			c := b.command(context.Background(), side, map[string]any{"role": role, "transport": "unix"})
			if len(c.Args) < 4 || c.Args[0] != b.taskset || c.Args[1] != "-c" || c.Args[2] != cpu {
				t.Errorf("%s %s: command %q, want it under %s -c %s", side, role, c.Args, b.taskset, cpu)
			}
		}
	}
	m, err := b.runLane("unix", lanes[1], 64, 2000, 200)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 2000 || m.RTTPerSec <= 0 {
		t.Errorf("pinned lane: %+v", m.result)
	}
}

// TestBackgroundLoadStartsAndStops starts the load lane's busy loop, runs a
// short latency pass while it runs, and stops it: it must have started,
// used CPU time, and ended when asked (exit status 0, not killed).
func TestBackgroundLoadStartsAndStops(t *testing.T) {
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.startBackground()
	if err != nil {
		t.Fatal(err)
	}
	m, perr := b.runLane("unix", lanes[1], 1, 200, 20)
	cpu, err := g.stop()
	if perr != nil {
		t.Fatal(perr)
	}
	if err != nil {
		t.Fatalf("stopping the busy loop: %v", err)
	}
	if !g.cmd.ProcessState.Success() || cpu <= 0 {
		t.Errorf("busy loop: %v, %v of CPU", g.cmd.ProcessState, cpu)
	}
	if m.Count != 200 {
		t.Errorf("the pass under load: %+v", m.result)
	}
	// underLoad stops the loop whatever the pass returns.
	if err := b.underLoad(func() error { return io.ErrUnexpectedEOF }); err != io.ErrUnexpectedEOF {
		t.Errorf("underLoad returned %v, want the pass's error", err)
	}
}

// TestPacingDeliversTheAskedRate checks the rates lane's pacing: the number
// of requests due from all connections stays within one per connection of
// rate × time, and a paced pass of each kind of client sends that many in
// its measured window (computed from the window it measured, so nothing
// here depends on how fast the machine is) with every one answered, and
// reports the server's CPU time.
func TestPacingDeliversTheAskedRate(t *testing.T) {
	const conns = 10
	for _, rate := range []float64{1000, 10000, 333} {
		prev := 0
		for ms := 0; ms <= 3000; ms += 7 {
			at := time.Duration(ms) * time.Millisecond
			total := 0
			for i := 0; i < conns; i++ {
				total += due(rate, conns, i, at)
			}
			if want := rate * at.Seconds(); float64(total) < want-1 || float64(total) > want+conns {
				t.Fatalf("rate %.0f: %d due at %v, want %.1f (+%d)", rate, total, at, want, conns)
			}
			if total < prev {
				t.Fatalf("rate %.0f: fewer due at %v than before", rate, at)
			}
			prev = total
		}
	}

	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ratePairs[:2] {
		m, err := b.runRates("unix", l, 1000, conns, 100*time.Millisecond, 500*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		want := 1000 * m.window.Seconds()
		if float64(m.sent) < want-conns || float64(m.sent) > want+conns {
			t.Errorf("%s: %d requests in a window of %v, want %.0f (±%d)", l.name, m.sent, m.window, want, conns)
		}
		if m.server < 0 || m.both < m.server || m.p50us <= 0 {
			t.Errorf("%s: figures %+v", l.name, m)
		}
		t.Logf("%s: %d requests in %v, server %.2f%% of a core", l.name, m.sent, m.window, m.server)
	}
}

// TestIdleLaneReportsAFigure opens a few hundred idle connections to each
// kind of server and checks that every one was held and that the server's
// memory was read before and with them.
func TestIdleLaneReportsAFigure(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory is read from /proc")
	}
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range idlePairs {
		m, err := b.runIdle("unix", l, 300, 0)
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		if m.conns != 300 || m.before <= 0 || m.after <= 0 {
			t.Errorf("%s: %+v", l.name, m)
		}
		t.Logf("%s: %.1f KiB per connection", l.name, m.perConnKiB())
	}
}

// TestThroughputPassTimesThePassAlone checks the clients' accounting: a
// pass with many requests in flight over a stream reads the clock only when
// the warm-up ends and at the last reply, and still counts every measured
// reply once; a latency pass and a UDP pass time every request.
func TestThroughputPassTimesThePassAlone(t *testing.T) {
	out := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	defer func() { os.Stdout = out }()

	s := newStats(peerOpts{Transport: "unix", Inflight: 64, Warmup: 5, Count: 10})
	if s.timed || s.sent != nil || s.lat != nil {
		t.Fatalf("a throughput pass over a stream is timed: %+v", s)
	}
	s.begin()
	for i := range 15 {
		s.stamp(i)
	}
	// Replies out of order, one twice and one garbled.
	order := []int{1, 0, 3, 2, 4, 9, 5, 6, 8, 7, 10, 12, 11, 14, 13}
	for k, seq := range order {
		if k == 6 {
			if s.got(9) || s.got(-1) || s.got(15) {
				t.Fatal("a duplicated or garbled reply was counted")
			}
		}
		if !s.got(seq) {
			t.Fatalf("reply %d not counted", seq)
		}
		if k == 4 && (s.start == 0 || s.last != s.start) {
			t.Fatalf("the warm-up ended without starting the clock: start %v last %v", s.start, s.last)
		}
		if k > 4 && k < 14 && s.last != s.start {
			t.Fatalf("reply %d read the clock", seq)
		}
	}
	if !s.complete() || s.answered != 10 || s.last <= s.start || len(s.lat) != 0 {
		t.Fatalf("after the pass: complete %v, answered %d, start %v, last %v, %d latencies", s.complete(), s.answered, s.start, s.last, len(s.lat))
	}
	w.Close()
	printed, _ := io.ReadAll(r)
	if n := strings.Count(string(printed), `"measuring"`); n != 1 {
		t.Errorf("measuring announced %d times: %s", n, printed)
	}

	for _, o := range []peerOpts{{Transport: "unix", Inflight: 1, Count: 3}, {Transport: "udp4", Inflight: 64, Count: 3}} {
		s := newStats(o)
		if !s.timed {
			t.Fatalf("%s at %d in flight is not timed", o.Transport, o.Inflight)
		}
		for i := range 3 {
			s.stamp(i)
			s.got(i)
		}
		if len(s.lat) != 3 || s.answered != 3 {
			t.Errorf("%s at %d in flight: %d latencies, %d answered", o.Transport, o.Inflight, len(s.lat), s.answered)
		}
	}
}
