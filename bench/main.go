// Command bench runs node-ipc's benchmark method across processes, side by
// side in one run: node-ipc 14 to node-ipc 14, nodeipc to nodeipc, both
// cross pairs, and a raw-bytes ceiling (the same 101-byte frames, no JSON),
// over Unix sockets and TCP. Every lane is a fresh server process and a
// fresh client process; lanes alternate order between repetitions and the
// median is reported.
//
//	go run ./bench                      # default run
//	go run ./bench -quick               # small counts, under a minute
//	go run ./bench -markdown            # a table for the README
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// result is what a client prints.
type result struct {
	Count     int     `json:"count"`
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
	{"raw bytes ceiling (no JSON)", "raw", "raw"},
}

var (
	flagTransports = flag.String("transports", "unix,tcp", "transports to run: unix, tcp")
	flagCount      = flag.Int("count", 200000, "measured round trips per throughput pass")
	flagLatCount   = flag.Int("latency-count", 20000, "measured round trips per latency pass")
	flagReps       = flag.Int("reps", 3, "repetitions (the median is reported)")
	flagQuick      = flag.Bool("quick", false, "small counts, one repetition")
	flagMarkdown   = flag.Bool("markdown", false, "print a README-ready markdown table")
	flagJSON       = flag.String("json", "", "also write the results to this JSON file")
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

func nodeDir() (string, error) {
	for dir, _ := os.Getwd(); ; dir = filepath.Dir(dir) {
		d := filepath.Join(dir, "interop", "node")
		if _, err := os.Stat(filepath.Join(d, "bench.mjs")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "node_modules", "node-ipc14")); err != nil {
				return "", fmt.Errorf("node-ipc is not installed: run npm ci --prefix %s --ignore-scripts", d)
			}
			return d, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("interop/node/bench.mjs not found above the working directory")
		}
	}
}

func run() error {
	nd, err := nodeDir()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	nodeVersion, _ := exec.Command("node", "--version").Output()
	fmt.Printf("machine: %d cores, %s, Node %s, %s/%s\n", runtime.NumCPU(), runtime.Version(),
		strings.TrimSpace(string(nodeVersion)), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("method: 64-byte payload (101-byte frames); %d round trips with 64 in flight; %d with 1 in flight; median of %d\n\n",
		*flagCount, *flagLatCount, *flagReps)

	type key struct{ transport, lane string }
	thr := map[key][]measure{}
	lat := map[key][]measure{}
	transports := strings.Split(*flagTransports, ",")
	for rep := 0; rep < *flagReps; rep++ {
		order := append([]lane(nil), lanes...)
		if rep%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, tr := range transports {
			for _, l := range order {
				m, err := runLane(self, nd, tr, l, 64, *flagCount, *flagCount/10)
				if err != nil {
					return fmt.Errorf("%s over %s: %w", l.name, tr, err)
				}
				thr[key{tr, l.name}] = append(thr[key{tr, l.name}], m)
				m, err = runLane(self, nd, tr, l, 1, *flagLatCount, *flagLatCount/10)
				if err != nil {
					return fmt.Errorf("%s over %s (latency): %w", l.name, tr, err)
				}
				lat[key{tr, l.name}] = append(lat[key{tr, l.name}], m)
				fmt.Fprintf(os.Stderr, "rep %d %s %-34s %10.0f rtt/s  p50 %6.1f µs\n", rep+1, tr, l.name,
					thr[key{tr, l.name}][rep].RTTPerSec, m.P50us)
			}
		}
	}

	type row struct {
		Transport, Lane              string
		RTTPerSec, P50us, P99us, CPU float64
		RSSServerMiB, RSSClientMiB   float64
	}
	var rows []row
	for _, tr := range transports {
		for _, l := range lanes {
			t, lt := median(thr[key{tr, l.name}]), median(lat[key{tr, l.name}])
			rows = append(rows, row{tr, l.name, t.RTTPerSec, lt.P50us, lt.P99us, t.cpu, t.rssServer, t.rssCl})
		}
	}
	fmt.Println()
	if *flagMarkdown {
		fmt.Println("| transport | lane | round trips/s (64 in flight) | p50 µs (1 in flight) | p99 µs | CPU s | peak RSS server / client MiB |")
		fmt.Println("|---|---|---:|---:|---:|---:|---:|")
		for _, r := range rows {
			fmt.Printf("| %s | %s | %.0f | %.1f | %.1f | %.2f | %.0f / %.0f |\n", r.Transport, r.Lane, r.RTTPerSec, r.P50us, r.P99us, r.CPU, r.RSSServerMiB, r.RSSClientMiB)
		}
	} else {
		fmt.Printf("%-5s %-34s %14s %10s %10s %8s %16s\n", "", "lane", "rtt/s @64", "p50 µs @1", "p99 µs @1", "CPU s", "RSS srv/cli MiB")
		for _, r := range rows {
			fmt.Printf("%-5s %-34s %14.0f %10.1f %10.1f %8.2f %8.0f/%-7.0f\n", r.Transport, r.Lane, r.RTTPerSec, r.P50us, r.P99us, r.CPU, r.RSSServerMiB, r.RSSClientMiB)
		}
	}
	fmt.Println()
	for _, tr := range transports {
		n, g := median(thr[key{tr, lanes[0].name}]), median(thr[key{tr, lanes[1].name}])
		nl, gl := median(lat[key{tr, lanes[0].name}]), median(lat[key{tr, lanes[1].name}])
		fmt.Printf("%s: nodeipc→nodeipc does %.1fx the round trips/s of node-ipc→node-ipc; p50 latency %.1f µs vs %.1f µs\n",
			tr, g.RTTPerSec/n.RTTPerSec, gl.P50us, nl.P50us)
	}
	if *flagJSON != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*flagJSON, b, 0o644); err != nil {
			return err
		}
	}
	return nil
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
// client's figures with both processes' CPU time and peak memory.
func runLane(self, nd, transport string, l lane, inflight, count, warmup int) (measure, error) {
	dir, err := os.MkdirTemp("", "nb")
	if err != nil {
		return measure{}, err
	}
	defer os.RemoveAll(dir)
	opts := map[string]any{"transport": transport, "lib": 14}
	if transport == "unix" {
		opts["path"] = filepath.Join(dir, "b.sock")
	} else {
		opts["host"], opts["port"] = "127.0.0.1", freePort()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	opts["role"] = "server"
	srv := command(ctx, self, nd, l.server, opts)
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
	cl := command(ctx, self, nd, l.client, opts)
	cl.Stderr = os.Stderr
	b, err := cl.Output()
	if err != nil {
		return measure{}, fmt.Errorf("client: %w", err)
	}
	stdin.Close()
	_ = srv.Wait()
	var m measure
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"result"`) {
			if err := json.Unmarshal([]byte(line), &m.result); err != nil {
				return m, err
			}
		}
	}
	if m.Count == 0 {
		return m, fmt.Errorf("no result from the client: %q", b)
	}
	su, cu := usage(srv.ProcessState), usage(cl.ProcessState)
	m.cpu = su.cpu + cu.cpu
	m.rssServer, m.rssCl = su.rss, cu.rss
	return m, nil
}

func command(ctx context.Context, self, nd, side string, opts map[string]any) *exec.Cmd {
	b, _ := json.Marshal(opts)
	if side == "node" {
		c := exec.CommandContext(ctx, "node", filepath.Join(nd, "bench.mjs"), string(b))
		c.Dir = nd
		return c
	}
	opts["impl"] = side
	b, _ = json.Marshal(opts)
	return exec.CommandContext(ctx, self, "peer", string(b))
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

func freePort() int {
	l, err := netListen()
	if err != nil {
		return 18000 + os.Getpid()%1000
	}
	defer l.Close()
	p, _ := strconv.Atoi(l.Addr().String()[strings.LastIndexByte(l.Addr().String(), ':')+1:])
	return p
}
