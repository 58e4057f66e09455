// Command bench measures nodeipc against node-ipc 14 across processes, every
// lane in the same run on the same machine.
//
// The round-trip lanes follow node-ipc's benchmark method (a payload the size
// of a 64-byte string, 64 requests in flight for round trips per second, 1
// for latency) over Unix sockets, TCP, TLS and UDP4: node-ipc 14 to node-ipc
// 14; nodeipc to nodeipc written as its README teaches (the typical lane: the
// client emits a struct and decodes each reply into one, the server emits the
// received data back); the same with a hand-tuned client (a payload encoded
// once and rewritten in place, the sequence number read by hand); the typical
// lane with Config.ReadSpin -1 on both peers (no polling; Unix sockets and TCP
// only); both cross pairs; and a raw-bytes echo (the same frames, no JSON).
// CPU is the user and system time of both processes over the measured
// requests, per round trip. As in node-ipc's method, a pass at 64 in flight
// over a stream is timed as a whole (the clients read the clock when the
// warm-up ends and at the last reply, not per request); latency passes and
// UDP passes time every request.
//
// Request/response and acknowledged delivery put a figure on the cost of
// correlation and of acknowledgements, over Unix sockets and TCP, in a table
// of their own that compares each lane with the plain lane of the same peers:
//
//   - req: a Go client's c.Request(ctx, "bench", Req{Seq, Payload}), each
//     reply decoded into a Req, to a Go server whose s.Handle returns m.Data
//     as it came (a json.RawMessage, as the typical server emits it back);
//     64 goroutines with a request each in flight for round trips per
//     second, one for latency. req-go-node, req-node-go and req-node put
//     node-ipc 14 with the Node.js companion (companion/) at one end or
//     both: its request, and a handle that returns the data.
//   - ack: the typical lane with Config.Acks on both peers: a round trip is
//     an acknowledged emit and the server's acknowledged emit of the data
//     back, the cumulative acknowledgements travelling beside them (and
//     counted in the CPU time). ack-go-node, ack-node-go and ack-node use
//     the companion's acks on the node-ipc side.
//
// Three more lanes, over Unix sockets and TCP:
//
//   - load: latency at 1 in flight, quiet and then with a separate CPU-bound
//     process (one busy loop) running for the pass, for node-ipc, nodeipc, and
//     nodeipc with Config.ReadSpin -1 on both peers.
//   - rates: one server answering 10 connections of one client process,
//     paced with a ticker to 1,000 and 10,000 requests a second in all; the
//     server's CPU, and both processes', as a share of one core. Besides
//     node-ipc and nodeipc, nodeipc with Config.ReadSpin -1 on both peers,
//     and with the server at GOMAXPROCS=1 (a tuning, to show what the Go
//     runtime's idle processors cost a server at moderate rates).
//   - idle: 10,000 connections to one server, each after one request, then
//     idle; the server's resident memory per connection.
//
// Every pass is a fresh server process and a fresh client process; lanes
// alternate order between repetitions and the median is reported.
//
//	go run ./bench                      # default run
//	go run ./bench -quick               # small counts, about a minute
//	go run ./bench -markdown            # tables for the README
//	go run ./bench -transports unix,tcp # some transports only
//	go run ./bench -lanes load,rates    # some lanes only
//	go run ./bench -pin                 # each pass's server on CPU 0, client on CPU 1
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
//
// NODEIPC_BENCH_PROFILE=dir makes every Go peer write a CPU profile there,
// named by transport, role and client style.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc/internal/nodeenv"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// lane is one pair of peers. Sides are "node" (node-ipc 14), "go" (nodeipc)
// or "raw" (plain sockets, no library).
type lane struct {
	id, name       string
	server, client string
	style          string // a go client's: "typical" or "tuned"
	noSpin         bool   // go peers: Config.ReadSpin -1
	procs          int    // a go server's GOMAXPROCS, when set
	// mode is what a round trip is: "" a plain emit echoed by an emit,
	// modeRequest a request and its reply, modeAcked an acknowledged emit
	// echoed by an acknowledged emit (node-ipc sides use the companion).
	mode string
	base string // a request or acked lane: the plain lane of the same peers, to compare with
}

// Round-trip modes beside plain emits.
const (
	modeRequest = "req"
	modeAcked   = "ack"
)

// transports returns the transports of ts the lane runs over: requests,
// acknowledged delivery and the lane without polling run over Unix sockets
// and TCP only.
func (l lane) transports(ts []string) []string {
	if l.mode == "" && !l.noSpin {
		return ts
	}
	return only(ts, modeTransports)
}

// runsOver reports whether the lane runs over transport.
func (l lane) runsOver(transport string) bool { return len(l.transports([]string{transport})) == 1 }

// lanes are the round-trip lanes, in the order of the table. The ratios are
// those of the typical lane to node-ipc's.
var lanes = []lane{
	{id: "node", name: "node-ipc 14 → node-ipc 14", server: "node", client: "node"},
	{id: "typical", name: "nodeipc → nodeipc", server: "go", client: "go", style: "typical"},
	{id: "tuned", name: "nodeipc, pre-encoded (tuned)", server: "go", client: "go", style: "tuned"},
	{id: "nospin", name: "nodeipc → nodeipc, ReadSpin -1", server: "go", client: "go", style: "typical", noSpin: true},
	{id: "go-node", name: "nodeipc client → node-ipc server", server: "node", client: "go", style: "typical"},
	{id: "node-go", name: "node-ipc client → nodeipc server", server: "go", client: "node"},
	{id: "raw", name: "raw bytes echo (no JSON)", server: "raw", client: "raw"},

	{id: "req", name: "request: nodeipc → nodeipc", server: "go", client: "go", mode: modeRequest, base: "typical"},
	{id: "req-go-node", name: "request: nodeipc → node-ipc + companion", server: "node", client: "go",
		mode: modeRequest, base: "go-node"},
	{id: "req-node-go", name: "request: node-ipc + companion → nodeipc", server: "go", client: "node",
		mode: modeRequest, base: "node-go"},
	{id: "req-node", name: "request: node-ipc + companion, both ends", server: "node", client: "node",
		mode: modeRequest, base: "node"},
	{id: "ack", name: "acked: nodeipc → nodeipc", server: "go", client: "go", style: "typical", mode: modeAcked,
		base: "typical"},
	{id: "ack-go-node", name: "acked: nodeipc → node-ipc + companion", server: "node", client: "go", style: "typical",
		mode: modeAcked, base: "go-node"},
	{id: "ack-node-go", name: "acked: node-ipc + companion → nodeipc", server: "go", client: "node", mode: modeAcked,
		base: "node-go"},
	{id: "ack-node", name: "acked: node-ipc + companion, both ends", server: "node", client: "node", mode: modeAcked,
		base: "node"},
}

// laneByID returns the round-trip lane id.
func laneByID(id string) (lane, bool) {
	for _, l := range lanes {
		if l.id == id {
			return l, true
		}
	}
	return lane{}, false
}

// noSpinLane is the typical lane with ReadSpin -1 on both peers, in the load
// and rates lanes.
var noSpinLane = lane{id: "typical-nospin", name: "nodeipc → nodeipc, ReadSpin -1", server: "go", client: "go",
	style: "typical", noSpin: true}

// extraLanes are the lanes of their own tables.
var extraLanes = []string{"load", "rates", "idle"}

// extraTransports are the transports the extra lanes run over.
var extraTransports = []string{"unix", "tcp"}

// modeTransports are the transports the request and acked lanes run over.
var modeTransports = []string{"unix", "tcp"}

// allTransports is the default run, in order.
var allTransports = []string{"unix", "tcp", "tls", "udp4"}

func allLaneIDs() []string {
	var ids []string
	for _, l := range lanes {
		ids = append(ids, l.id)
	}
	return append(ids, extraLanes...)
}

var (
	flagTransports = flag.String("transports", strings.Join(allTransports, ","), "transports to run: "+strings.Join(allTransports, ", ")+" (load, rates, idle, request and acked lanes: unix and tcp only)")
	flagLanes      = flag.String("lanes", strings.Join(allLaneIDs(), ","), "lanes to run: "+strings.Join(allLaneIDs(), ", "))
	flagCount      = flag.Int("count", 200000, "measured round trips per throughput pass")
	flagLatCount   = flag.Int("latency-count", 20000, "measured round trips per latency pass (and per load pass)")
	flagReps       = flag.Int("reps", 3, "repetitions (the median is reported)")
	flagUDPTimeout = flag.Duration("udp-timeout", time.Second, "UDP: a request without a reply this long is counted lost")
	flagRates      = flag.String("rates", "1000,10000", "rates lane: requests a second, all connections together")
	flagRateConns  = flag.Int("rate-conns", 10, "rates lane: client connections")
	flagRateWarmup = flag.Duration("rate-warmup", time.Second, "rates lane: paced before the measured window")
	flagRateFor    = flag.Duration("rate-duration", 5*time.Second, "rates lane: the measured window")
	flagIdleConns  = flag.Int("idle-conns", 10000, "idle lane: connections")
	flagIdleSettle = flag.Duration("idle-settle", time.Second, "idle lane: wait before each memory reading")
	flagQuick      = flag.Bool("quick", false, "small counts, one repetition")
	flagMarkdown   = flag.Bool("markdown", false, "print README-ready markdown tables")
	flagJSON       = flag.String("json", "", "also write the results to this JSON file")
	flagPin        = flag.Bool("pin", false, "run each pass's server on CPU 0 and its client on CPU 1 (Linux, with taskset)")
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "peer" {
		if err := runPeer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench peer:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "busy" {
		busyLoop()
	}
	flag.Parse()
	if *flagQuick {
		*flagCount, *flagLatCount, *flagReps = 20000, 2000, 1
		*flagRateWarmup, *flagRateFor = 300*time.Millisecond, time.Second
		*flagIdleConns, *flagIdleSettle = 1000, 300*time.Millisecond
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

// pin makes the run pin each pass's server to CPU 0 and its client to CPU 1
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

// plan is what one run measures.
type plan struct {
	transports []string
	lanes      []lane          // round-trip lanes
	extra      map[string]bool // load, rates, idle
	reps       int
	count      int // round trips per throughput pass
	latCount   int // per latency pass
	rates      []float64
	rateConns  int
	rateWarmup time.Duration
	rateFor    time.Duration
	idleConns  int
	idleSettle time.Duration
}

// extraTransports are the plan's transports the extra lanes run over.
func (p plan) extraTransports() []string { return only(p.transports, extraTransports) }

// only returns the transports of ts that are in keep, in the order of ts.
func only(ts, keep []string) []string {
	var out []string
	for _, tr := range ts {
		for _, k := range keep {
			if tr == k {
				out = append(out, tr)
			}
		}
	}
	return out
}

// parseLanes splits a -lanes value into round-trip lanes and extra lanes.
func parseLanes(s string) ([]lane, map[string]bool, error) {
	var rt []lane
	extra := map[string]bool{}
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		found := false
		for _, l := range lanes {
			if l.id == id {
				rt, found = append(rt, l), true
			}
		}
		for _, e := range extraLanes {
			if e == id {
				extra[id], found = true, true
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("unknown lane %q (want %s)", id, strings.Join(allLaneIDs(), ", "))
		}
	}
	// The table's order, whatever the order asked.
	sort.SliceStable(rt, func(i, j int) bool { return laneIndex(rt[i].id) < laneIndex(rt[j].id) })
	return rt, extra, nil
}

func laneIndex(id string) int {
	for i, l := range lanes {
		if l.id == id {
			return i
		}
	}
	return len(lanes)
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("bad rate %q: want requests a second, above 0", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// report is everything one run measured.
type report struct {
	Lanes []row     `json:"lanes"`
	Load  []loadRow `json:"load,omitempty"`
	Rates []rateRow `json:"rates,omitempty"`
	Idle  []idleRow `json:"idle,omitempty"`
}

func run() error {
	p := plan{reps: *flagReps, count: *flagCount, latCount: *flagLatCount, rateConns: *flagRateConns,
		rateWarmup: *flagRateWarmup, rateFor: *flagRateFor, idleConns: *flagIdleConns, idleSettle: *flagIdleSettle}
	p.transports = strings.Split(*flagTransports, ",")
	for _, tr := range p.transports {
		if !isTransport(tr) {
			return fmt.Errorf("unknown transport %q (want %s)", tr, strings.Join(allTransports, ", "))
		}
	}
	var err error
	if p.lanes, p.extra, err = parseLanes(*flagLanes); err != nil {
		return err
	}
	if p.rates, err = parseRates(*flagRates); err != nil {
		return err
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
	fmt.Printf("round trips: %d with 64 in flight, %d with 1 in flight, median of %d; frames of 100-101 bytes\n",
		p.count, p.latCount, p.reps)
	fmt.Println("typical: client c.Emit(event, Req{Seq, Payload}) and m.Decode(&reply); server srv.Emit(m.Socket, event, m.Data)")
	if hasMode(p.lanes, modeRequest) {
		fmt.Println(`request: c.Request(ctx, "bench", Req{Seq, Payload}) and m.Decode(&reply), 64 goroutines; server s.Handle returns m.Data (json.RawMessage); node-ipc: the companion's request and handle; frames of 139 bytes, replies of 121 (six-digit numbers)`)
	}
	if hasMode(p.lanes, modeAcked) {
		fmt.Println("acked: the typical lane with Config.Acks on both peers (node-ipc: the companion with acks, a client emitting node-ipc's 64-byte string): an acknowledged emit, echoed by an acknowledged emit, acknowledgements beside them")
	}
	fmt.Println("CPU: user+system of server and client over the measured requests")
	fmt.Printf("tls: one-way, server verified against a CA made for the run; udp4: a request is lost after %v without a reply\n", b.udpTimeout)
	if p.extra["load"] {
		fmt.Println("load: a separate busy-loop process (one core) runs through each loaded pass")
	}
	if p.extra["rates"] {
		fmt.Printf("rates: %d connections in one client process, one %v ticker; %v warm-up, %v measured\n",
			p.rateConns, tickEvery, p.rateWarmup, p.rateFor)
	}
	if p.extra["idle"] {
		fmt.Printf("idle: %d plain connections from one client process, one request each, then idle; memory read after %v; open files: up to %d a process here\n",
			p.idleConns, p.idleSettle, fdLimit())
	}
	if b.taskset != "" {
		fmt.Println("pinned: every pass's server on CPU 0, its client on CPU 1 (the busy loop unpinned)")
	}
	fmt.Println()

	rep, err := b.measure(p, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println()
	if *flagMarkdown {
		printMarkdown(os.Stdout, rep)
	} else {
		printText(os.Stdout, rep)
	}
	fmt.Println()
	printRatios(os.Stdout, p.transports, rep)
	if *flagJSON != "" {
		j, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*flagJSON, j, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the plan: every repetition runs each lane once over each
// transport, in an order reversed every other repetition.
func (b *bench) measure(p plan, progress io.Writer) (report, error) {
	rt := newRoundTrips()
	ld := newLoadRuns()
	rs := newRateRuns()
	id := newIdleRuns()
	for rep := 0; rep < p.reps; rep++ {
		rev := rep%2 == 1
		if len(p.lanes) > 0 {
			if err := b.roundTrips(p, rt, rep, rev, progress); err != nil {
				return report{}, err
			}
		}
		if p.extra["load"] {
			if err := b.loadLanes(p, ld, rep, rev, progress); err != nil {
				return report{}, err
			}
		}
		if p.extra["rates"] {
			if err := b.rateLanes(p, rs, rep, rev, progress); err != nil {
				return report{}, err
			}
		}
		if p.extra["idle"] {
			if err := b.idleLanes(p, id, rep, rev, progress); err != nil {
				return report{}, err
			}
		}
	}
	var r report
	if len(p.lanes) > 0 {
		r.Lanes = rt.rows(p)
	}
	if p.extra["load"] {
		r.Load = ld.rows(p)
	}
	if p.extra["rates"] {
		r.Rates = rs.rows(p)
	}
	if p.extra["idle"] {
		r.Idle = id.rows(p)
	}
	return r, nil
}

// hasMode reports whether one of ls is a lane of mode.
func hasMode(ls []lane, mode string) bool {
	for _, l := range ls {
		if l.mode == mode {
			return true
		}
	}
	return false
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

// ordered returns ls, reversed when rev.
func ordered[T any](ls []T, rev bool) []T {
	out := append([]T(nil), ls...)
	if rev {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// med is the median of xs (the upper one of an even count); 0 for none.
func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
