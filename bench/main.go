// Command bench runs node-ipc's benchmark method across processes, side by
// side in one run: node-ipc 14 to node-ipc 14, nodeipc to nodeipc, both
// cross pairs, and a raw-bytes echo (the same 101-byte frames, no JSON),
// over Unix sockets, TCP, TLS and UDP4. Every lane is a fresh server process
// and a fresh client process; lanes alternate order between repetitions and
// the median is reported.
//
//	go run ./bench                      # default run
//	go run ./bench -quick               # small counts, under a minute
//	go run ./bench -markdown            # a table for the README
//	go run ./bench -transports tls,udp4 # some transports only
//	go run ./bench -pin                 # each lane's server on CPU 0, client on CPU 1
//
// TLS is one-way (the client verifies the server against a CA), with
// certificates made for the run. Over UDP4 each client is an endpoint of its
// own; a request whose reply does not come within -udp-timeout is counted
// lost and its slot goes to the next request, and round trips per second
// count completed round trips only.
//
// node-ipc runs from interop/node: the first run installs its pinned
// releases there (npm ci from the lock file, once), saying so on stderr.
//
// The raw lane is a reference, not a ceiling: its peers read and write the
// socket plainly, one read and one write at a time, and sleep whenever a
// read would wait. nodeipc's busy connections poll before they sleep
// (Config.ReadSpin), and on Linux it batches UDP datagrams (several per
// system call, and runs of equal datagrams through the kernel as one,
// UDP_SEGMENT and UDP_GRO), where the raw UDP peers move one per call.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc/internal/nodeenv"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// result is what a client prints.
type result struct {
	Count     int     `json:"count"` // measured round trips completed
	Lost      int     `json:"lost"`  // measured requests without a reply (UDP)
	ElapsedNS int64   `json:"elapsed_ns"`
	RTTPerSec float64 `json:"rtt_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

// measure is one lane's figures for one pass.
type measure struct {
	result
	cpu              float64 // user+sys seconds of server and client
	rssServer, rssCl float64 // peak RSS in MiB
}

type lane struct{ name, server, client string } // sides: "node", "go", "raw"

var lanes = []lane{
	{"node-ipc 14 → node-ipc 14", "node", "node"},
	{"nodeipc → nodeipc", "go", "go"},
	{"nodeipc client → node-ipc server", "node", "go"},
	{"node-ipc client → nodeipc server", "go", "node"},
	{"raw bytes echo (no JSON)", "raw", "raw"},
}

// allTransports is the default run, in order.
var allTransports = []string{"unix", "tcp", "tls", "udp4"}

var (
	flagTransports = flag.String("transports", strings.Join(allTransports, ","), "transports to run: "+strings.Join(allTransports, ", "))
	flagCount      = flag.Int("count", 200000, "measured round trips per throughput pass")
	flagLatCount   = flag.Int("latency-count", 20000, "measured round trips per latency pass")
	flagReps       = flag.Int("reps", 3, "repetitions (the median is reported)")
	flagUDPTimeout = flag.Duration("udp-timeout", time.Second, "UDP: a request without a reply this long is counted lost")
	flagQuick      = flag.Bool("quick", false, "small counts, one repetition")
	flagMarkdown   = flag.Bool("markdown", false, "print a README-ready markdown table")
	flagJSON       = flag.String("json", "", "also write the results to this JSON file")
	flagPin        = flag.Bool("pin", false, "run each lane's server on CPU 0 and its client on CPU 1 (Linux, with taskset)")
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "peer" {
		if err := runPeer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench peer:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	if *flagQuick {
		*flagCount, *flagLatCount, *flagReps = 20000, 2000, 1
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one run's setting: the peers' programs and the certificates.
type bench struct {
	self, node string    // this binary (the Go peers) and interop/node
	tls        *tlsFiles // made for the run, in a directory of its own
	udpTimeout time.Duration
	dropEvery  int    // raw UDP servers drop every nth datagram (tests of loss counting)
	taskset    string // with -pin: the taskset program that pins each peer to its CPU
}

// pinCPU is the CPU a pinned peer of role runs on.
func pinCPU(role any) string {
	if role == "server" {
		return "0"
	}
	return "1"
}

// pin makes the run pin each lane's server to CPU 0 and its client to CPU 1
// (the same for every lane), with taskset.
func (b *bench) pin() error {
	if runtime.GOOS != "linux" {
		return errors.New("-pin needs Linux")
	}
	if n := runtime.NumCPU(); n < 2 {
		return fmt.Errorf("-pin needs 2 CPUs; this machine has %d", n)
	}
	path, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("-pin needs taskset (util-linux): %w", err)
	}
	b.taskset = path
	return nil
}

// newBench finds the peers, installing the pinned node-ipc packages into
// interop/node when they are not (saying so on stderr), and makes the TLS
// certificates in dir.
func newBench(dir string) (*bench, error) {
	nd, err := nodeenv.Ensure(nodeenv.Interop, os.Stderr)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	certs, err := testcert.New(dir, "bench")
	if err != nil {
		return nil, fmt.Errorf("making the TLS certificates: %w", err)
	}
	return &bench{self: self, node: nd, udpTimeout: time.Second,
		tls: &tlsFiles{Key: certs.Server.KeyFile, Cert: certs.Server.CertFile, CA: certs.CAFile}}, nil
}

// row is one lane's reported figures: the medians of the repetitions, and
// the UDP losses of all its passes.
type row struct {
	Transport, Lane              string
	RTTPerSec, P50us, P99us, CPU float64
	RSSServerMiB, RSSClientMiB   float64
	Lost                         int     // requests lost, every pass of the lane
	LostPct                      float64 // of the requests measured
}

// measureAll runs every lane over every transport reps times (throughput,
// then latency) and reports one row per lane, transport by transport.
func (b *bench) measureAll(transports []string, reps, count, latCount int, progress io.Writer) ([]row, error) {
	type key struct{ transport, lane string }
	thr := map[key][]measure{}
	lat := map[key][]measure{}
	for rep := 0; rep < reps; rep++ {
		order := append([]lane(nil), lanes...)
		if rep%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, tr := range transports {
			for _, l := range order {
				k := key{tr, l.name}
				m, err := b.runLane(tr, l, 64, count, count/10)
				if err != nil {
					return nil, fmt.Errorf("%s over %s: %w", l.name, tr, err)
				}
				thr[k] = append(thr[k], m)
				ml, err := b.runLane(tr, l, 1, latCount, latCount/10)
				if err != nil {
					return nil, fmt.Errorf("%s over %s (latency): %w", l.name, tr, err)
				}
				lat[k] = append(lat[k], ml)
				loss := ""
				if m.Lost+ml.Lost > 0 {
					loss = fmt.Sprintf("  lost %d+%d", m.Lost, ml.Lost)
				}
				fmt.Fprintf(progress, "rep %d %-4s %-34s %10.0f rtt/s  p50 %6.1f µs%s\n", rep+1, tr, l.name,
					m.RTTPerSec, ml.P50us, loss)
			}
		}
	}
	var rows []row
	for _, tr := range transports {
		for _, l := range lanes {
			k := key{tr, l.name}
			t, lt := median(thr[k]), median(lat[k])
			r := row{Transport: tr, Lane: l.name, RTTPerSec: t.RTTPerSec, P50us: lt.P50us, P99us: lt.P99us,
				CPU: t.cpu, RSSServerMiB: t.rssServer, RSSClientMiB: t.rssCl}
			sent := 0
			for _, m := range append(append([]measure(nil), thr[k]...), lat[k]...) {
				r.Lost += m.Lost
				sent += m.Count + m.Lost
			}
			if sent > 0 {
				r.LostPct = 100 * float64(r.Lost) / float64(sent)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func run() error {
	transports := strings.Split(*flagTransports, ",")
	for _, tr := range transports {
		if !isTransport(tr) {
			return fmt.Errorf("unknown transport %q (want %s)", tr, strings.Join(allTransports, ", "))
		}
	}
	dir, err := os.MkdirTemp("", "nodeipc-bench-certs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := newBench(dir)
	if err != nil {
		return err
	}
	b.udpTimeout = *flagUDPTimeout
	if *flagPin {
		if err := b.pin(); err != nil {
			return err
		}
	}
	nodeVersion, _ := exec.Command("node", "--version").Output()
	fmt.Printf("machine: %d cores, %s, Node %s, %s/%s\n", runtime.NumCPU(), runtime.Version(),
		strings.TrimSpace(string(nodeVersion)), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("method: 64-byte payload (101-byte frames); %d round trips with 64 in flight; %d with 1 in flight; median of %d\n",
		*flagCount, *flagLatCount, *flagReps)
	fmt.Printf("tls: one-way, server verified against a CA made for the run; udp4: a request is lost after %v without a reply\n", b.udpTimeout)
	if b.taskset != "" {
		fmt.Println("pinned: every lane's server on CPU 0, its client on CPU 1")
	}
	fmt.Println()

	rows, err := b.measureAll(transports, *flagReps, *flagCount, *flagLatCount, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println()
	if *flagMarkdown {
		printMarkdown(os.Stdout, rows)
	} else {
		printText(os.Stdout, rows)
	}
	fmt.Println()
	printRatios(os.Stdout, transports, rows)
	if *flagJSON != "" {
		j, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*flagJSON, j, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func isTransport(tr string) bool {
	for _, t := range allTransports {
		if t == tr {
			return true
		}
	}
	return false
}

func datagram(transport string) bool { return strings.HasPrefix(transport, "udp") }

// lossText is a row's loss figure: none for stream transports, which cannot
// lose a frame without failing the lane.
func lossText(r row) string {
	if !datagram(r.Transport) {
		return "–"
	}
	if r.Lost == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.3f%%)", r.Lost, r.LostPct)
}

func printMarkdown(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| transport | lane | round trips/s (64 in flight) | p50 µs (1 in flight) | p99 µs | CPU s | peak RSS server / client MiB | lost |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f | %.0f / %.0f | %s |\n", r.Transport, r.Lane,
			r.RTTPerSec, r.P50us, r.P99us, r.CPU, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
	}
}

func printText(w io.Writer, rows []row) {
	fmt.Fprintf(w, "%-5s %-34s %14s %10s %10s %8s %16s %s\n", "", "lane", "rtt/s @64", "p50 µs @1", "p99 µs @1", "CPU s", "RSS srv/cli MiB", "lost")
	for _, r := range rows {
		fmt.Fprintf(w, "%-5s %-34s %14.0f %10.1f %10.1f %8.2f %8.0f/%-7.0f %s\n", r.Transport, r.Lane,
			r.RTTPerSec, r.P50us, r.P99us, r.CPU, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
	}
}

// printRatios compares nodeipc to node-ipc, transport by transport.
func printRatios(w io.Writer, transports []string, rows []row) {
	find := func(tr, name string) row {
		for _, r := range rows {
			if r.Transport == tr && r.Lane == name {
				return r
			}
		}
		return row{}
	}
	for _, tr := range transports {
		n, g := find(tr, lanes[0].name), find(tr, lanes[1].name)
		ratio := 0.0
		if n.RTTPerSec > 0 {
			ratio = g.RTTPerSec / n.RTTPerSec
		}
		fmt.Fprintf(w, "%s: nodeipc→nodeipc does %.1fx the round trips/s of node-ipc→node-ipc; p50 latency %.1f µs vs %.1f µs\n",
			tr, ratio, g.P50us, n.P50us)
	}
}

func median(ms []measure) measure {
	if len(ms) == 0 {
		return measure{}
	}
	s := append([]measure(nil), ms...)
	sort.Slice(s, func(i, j int) bool { return s[i].RTTPerSec < s[j].RTTPerSec })
	m := s[len(s)/2]
	// Latency passes sort by their own figure.
	sort.Slice(s, func(i, j int) bool { return s[i].P50us < s[j].P50us })
	m.P50us, m.P99us = s[len(s)/2].P50us, s[len(s)/2].P99us
	return m
}

// runLane starts a server process, then a client process, and returns the
// client's figures with both processes' CPU time and peak memory. Every
// request must end, answered or (UDP) lost, and at least one must be
// answered.
func (b *bench) runLane(transport string, l lane, inflight, count, warmup int) (measure, error) {
	opts := map[string]any{"transport": transport, "lib": 14}
	switch {
	case transport == "unix":
		dir, err := os.MkdirTemp("", "nb")
		if err != nil {
			return measure{}, err
		}
		defer os.RemoveAll(dir)
		opts["path"] = filepath.Join(dir, "b.sock")
	case datagram(transport):
		port, cport := freePort(transport), freePort(transport)
		for i := 0; cport == port && i < 10; i++ {
			cport = freePort(transport)
		}
		opts["host"], opts["port"], opts["cport"] = "127.0.0.1", port, cport
		opts["timeout_ms"] = max(1, b.udpTimeout.Milliseconds())
		if b.dropEvery > 0 {
			opts["drop_every"] = b.dropEvery
		}
	default:
		opts["host"], opts["port"] = "127.0.0.1", freePort("tcp")
	}
	if transport == "tls" {
		opts["tls"] = b.tls
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	opts["role"] = "server"
	srv := b.command(ctx, l.server, opts)
	stdin, _ := srv.StdinPipe()
	out, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return measure{}, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.Contains(line, "ready") {
		return measure{}, fmt.Errorf("server did not start (%q, %v)", line, err)
	}

	opts["role"], opts["inflight"], opts["count"], opts["warmup"] = "client", inflight, count, warmup
	cl := b.command(ctx, l.client, opts)
	cl.Stderr = os.Stderr
	stdout, err := cl.Output()
	if err != nil {
		return measure{}, fmt.Errorf("client: %w", err)
	}
	stdin.Close()
	_ = srv.Wait()
	var m measure
	found := false
	for _, line := range strings.Split(string(stdout), "\n") {
		if strings.Contains(line, `"result"`) {
			if err := json.Unmarshal([]byte(line), &m.result); err != nil {
				return m, err
			}
			found = true
		}
	}
	switch {
	case !found:
		return m, fmt.Errorf("no result from the client: %q", stdout)
	case m.Count == 0:
		return m, errors.New("no round trip completed")
	case m.Count+m.Lost != count:
		return m, fmt.Errorf("%d round trips and %d lost of %d", m.Count, m.Lost, count)
	case m.RTTPerSec <= 0 || m.P50us <= 0 || m.P99us < m.P50us:
		return m, fmt.Errorf("implausible figures %+v", m.result)
	}
	su, cu := usage(srv.ProcessState), usage(cl.ProcessState)
	m.cpu = su.cpu + cu.cpu
	m.rssServer, m.rssCl = su.rss, cu.rss
	return m, nil
}

func (b *bench) command(ctx context.Context, side string, opts map[string]any) *exec.Cmd {
	var args []string
	if side == "node" {
		j, _ := json.Marshal(opts)
		args = []string{"node", filepath.Join(b.node, "bench.mjs"), string(j)}
	} else {
		opts["impl"] = side
		j, _ := json.Marshal(opts)
		delete(opts, "impl")
		args = []string{b.self, "peer", string(j)}
	}
	if b.taskset != "" {
		args = append([]string{b.taskset, "-c", pinCPU(opts["role"])}, args...)
	}
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	if side == "node" {
		c.Dir = b.node
	}
	return c
}

type use struct{ cpu, rss float64 }

func usage(ps *os.ProcessState) use {
	if ps == nil {
		return use{}
	}
	u := use{cpu: (ps.UserTime() + ps.SystemTime()).Seconds()}
	u.rss = peakRSS(ps)
	return u
}

// freePort returns a port free on 127.0.0.1 for network ("tcp" for TCP and
// TLS, or a UDP network) a moment ago.
func freePort(network string) int {
	if datagram(network) {
		if pc, err := net.ListenPacket(network, "127.0.0.1:0"); err == nil {
			defer pc.Close()
			return pc.LocalAddr().(*net.UDPAddr).Port
		}
	} else if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	return 18000 + os.Getpid()%1000
}
