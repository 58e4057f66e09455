package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
)

type benchOpts struct {
	count, latCount, inflight, payload int
	event, out, svg                    string
	timeout                            time.Duration
}

// benchResult is one lane's figures.
type benchResult struct {
	Lane      string  `json:"lane"`
	Target    string  `json:"target"`
	Payload   int     `json:"payload_bytes"`
	Inflight  int     `json:"inflight"`
	Count     int     `json:"count"`
	RTTPerSec float64 `json:"rtt_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	LatCount  int     `json:"latency_count"`
}

func newBench(g *globals) *cobra.Command {
	var (
		e endpoint
		o benchOpts
	)
	cmd := &cobra.Command{
		Use:   "bench [ID|PATH]",
		Short: "Measure round trips with node-ipc's method",
		Long: `Measure round trips per second and latency with node-ipc's method: a payload of
64 bytes, 64 requests in flight for throughput, then 1 in flight for latency (p50, p99).

Without an endpoint it starts nodeipc servers itself (a local socket and TCP on
loopback) and measures both in this process. With an endpoint it measures that
server, which must send each event back (nodeipc serve --echo, or a node-ipc
server that echoes). --out writes the results as JSON, --svg a bar chart.

For nodeipc against node-ipc across processes, run the repository's go run ./bench.`,
		Example: `  nodeipc bench
  nodeipc bench --svg bench.svg --out bench.json
  nodeipc serve world --echo &  nodeipc bench world
  nodeipc bench --tcp 127.0.0.1:8000 --count 50000`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				e.local = args[0]
			}
			if o.count <= 0 || o.latCount <= 0 || o.inflight <= 0 || o.payload < 16 {
				return usageErr("--count, --latency-count and --inflight must be positive, --payload at least 16")
			}
			return bench(cmd.Context(), g, &e, o, cmd)
		},
	}
	e.flags(cmd, true)
	cmd.Flags().IntVar(&o.count, "count", 100000, "round trips measured with --inflight in flight")
	cmd.Flags().IntVar(&o.latCount, "latency-count", 10000, "round trips measured one at a time")
	cmd.Flags().IntVar(&o.inflight, "inflight", 64, "requests in flight for throughput")
	cmd.Flags().IntVar(&o.payload, "payload", 64, "payload size in bytes (a JSON string)")
	cmd.Flags().StringVar(&o.event, "event", "bench", "event name sent (and expected back)")
	cmd.Flags().StringVar(&o.out, "out", "", "write the results as JSON to `FILE`")
	cmd.Flags().StringVar(&o.svg, "svg", "", "write a bar chart of round trips per second to `FILE`")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up a lane after this long")
	return cmd
}

func bench(ctx context.Context, g *globals, e *endpoint, o benchOpts, cmd *cobra.Command) error {
	type target struct{ lane, network, address string }
	var targets []target
	var servers []*nodeipc.Server
	defer func() {
		for _, s := range servers {
			_ = s.Shutdown(context.Background())
		}
	}()
	if e.local == "" && e.tcp == "" && e.tls == "" && e.udp4 == "" && e.udp6 == "" {
		dir, err := os.MkdirTemp("", "nodeipc-bench-")
		if err != nil {
			return failure("%w", err)
		}
		defer os.RemoveAll(dir)
		for _, t := range []target{{"nodeipc local socket", "unix", filepath.Join(dir, "bench.sock")}, {"nodeipc tcp", "tcp", "127.0.0.1:0"}} {
			cfg := nodeipc.DefaultConfig()
			cfg.Silent = true
			srv, err := nodeipc.NewServer(t.network, t.address, &cfg)
			if err != nil {
				return failure("%w", err)
			}
			srv.On(o.event, func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, m.Type, m.Data) })
			if err := srv.Start(); err != nil {
				return failure("%w", err)
			}
			servers = append(servers, srv)
			if t.network == "tcp" {
				t.address = srv.Addr().String()
			}
			targets = append(targets, t)
		}
	} else {
		network, address, err := e.kind()
		if err != nil {
			return err
		}
		if network == "udp4" || network == "udp6" {
			return usageErr("bench measures stream endpoints (local, --tcp, --tls)")
		}
		targets = append(targets, target{network + " " + address, network, address})
	}
	p := newPrinter(g, cmd.OutOrStdout())
	progress := !g.json && colorAllowed(cmd.ErrOrStderr())
	var results []benchResult
	for _, t := range targets {
		r := benchResult{Lane: t.lane, Target: t.network + " " + t.address, Payload: o.payload, Inflight: o.inflight, Count: o.count, LatCount: o.latCount}
		thr, _, err := runRounds(ctx, e, t.network, t.address, o, o.inflight, o.count, progress, cmd.ErrOrStderr(), t.lane+" throughput")
		if err != nil {
			return err
		}
		_, lat, err := runRounds(ctx, e, t.network, t.address, o, 1, o.latCount, progress, cmd.ErrOrStderr(), t.lane+" latency")
		if err != nil {
			return err
		}
		r.RTTPerSec = thr
		r.MBPerSec = thr * float64(o.payload) * 2 / 1e6
		r.P50us, r.P99us = quantile(lat, 0.5), quantile(lat, 0.99)
		results = append(results, r)
		if p.json {
			b, _ := json.Marshal(r)
			fmt.Fprintf(p.w, "%s\n", b)
		}
	}
	if !p.json {
		fmt.Fprintf(p.w, "%d-byte payload; %d round trips with %d in flight, %d with 1 in flight; %d cores, %s %s/%s\n",
			o.payload, o.count, o.inflight, o.latCount, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "lane\tround trips/s\tMB/s\tp50 µs\tp99 µs\t")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%.1f\t\n", r.Lane, r.RTTPerSec, r.MBPerSec, r.P50us, r.P99us)
		}
		tw.Flush()
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return failure("--out: %w", err)
		}
	}
	if o.svg != "" {
		if err := os.WriteFile(o.svg, chartSVG(results), 0o644); err != nil {
			return failure("--svg: %w", err)
		}
	}
	return nil
}

// runRounds sends count events with inflight of them outstanding and
// returns round trips per second and each round trip's latency.
func runRounds(ctx context.Context, e *endpoint, network, address string, o benchOpts, inflight, count int, progress bool, stderr io.Writer, label string) (float64, []time.Duration, error) {
	cfg, err := e.config(network)
	if err != nil {
		return 0, nil, err
	}
	cfg.MaxRetries = 0
	c, err := nodeipc.NewClient("nodeipc-bench", network, address, &cfg)
	if err != nil {
		return 0, nil, usageErr("%w", err)
	}
	defer c.Close(context.Background())
	warmup := min(count/10, 1000)
	total := warmup + count
	// Send times as offsets from base: a time.Time holds a pointer, and an
	// array of them would be scanned by the garbage collector in every cycle.
	base := time.Now()
	sent := make([]time.Duration, total)
	lat := make([]time.Duration, 0, count)
	var next, received int
	var done atomic.Int64
	finished := make(chan error, 1)
	var once sync.Once
	finish := func(err error) { once.Do(func() { finished <- err }) }
	var start time.Time
	send := func() {
		sent[next] = time.Since(base)
		if err := c.Emit(o.event, benchPayload(next, o.payload)); err != nil {
			finish(failure("emit: %w", err))
		}
		next++
	}
	c.On(o.event, func(m *nodeipc.Message) {
		seq, ok := seqOf(m.Data)
		if !ok || seq >= total {
			finish(failure("the server sent back data that is not this benchmark's: %.40s", m.Data))
			return
		}
		now := time.Now()
		received++
		if seq >= warmup {
			lat = append(lat, now.Sub(base)-sent[seq])
		}
		if received == warmup {
			start = now
		}
		done.Store(int64(received))
		if received == total {
			finish(nil)
			return
		}
		if next < total {
			send()
		}
	})
	var lastErr atomic.Value
	c.On("error", func(m *nodeipc.Message) { lastErr.Store(m.Err.Error()) })
	c.On("destroy", func(*nodeipc.Message) {
		why, _ := lastErr.Load().(string)
		finish(failure("could not reach %s %s: %s", network, address, why))
	})
	c.On("disconnect", func(*nodeipc.Message) { finish(failure("%s %s closed the connection", network, address)) })
	c.On("connect", func(*nodeipc.Message) {
		if warmup == 0 {
			start = time.Now()
		}
		for i := 0; i < inflight && next < total; i++ {
			send()
		}
	})
	c.Connect()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	deadline := time.After(o.timeout)
	began := time.Now()
	for {
		select {
		case err := <-finished:
			if progress {
				fmt.Fprintf(stderr, "\r\x1b[K")
			}
			if err != nil {
				return 0, nil, err
			}
			return float64(count) / time.Since(start).Seconds(), lat, nil
		case <-ticker.C:
			if progress {
				n := done.Load()
				fmt.Fprintf(stderr, "\r\x1b[K%s %3d%%  %.0f rtt/s", label, n*100/int64(total), float64(n)/time.Since(began).Seconds())
			}
		case <-deadline:
			return 0, nil, &exitError{exitTimeout, fmt.Errorf("%s: %d of %d round trips after %v", label, done.Load(), total, o.timeout)}
		case <-ctx.Done():
			return 0, nil, stopped(ctx)
		}
	}
}

// benchPayload is a JSON string of size bytes: 8 hex digits of seq, then 'a's.
func benchPayload(seq, size int) json.RawMessage {
	const digits = "0123456789abcdef"
	b := make([]byte, size+2)
	b[0], b[size+1] = '"', '"'
	for i := 8; i >= 1; i-- {
		b[i] = digits[seq&0xf]
		seq >>= 4
	}
	for i := 9; i <= size; i++ {
		b[i] = 'a'
	}
	return b
}

func seqOf(data []byte) (int, bool) {
	if len(data) < 10 || data[0] != '"' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[1:9]), 16, 32)
	return int(n), err == nil
}

func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) / 1000
}

// chartSVG draws round trips per second as horizontal bars.
func chartSVG(results []benchResult) []byte {
	const width, left, barH, gap, top = 720, 220, 28, 12, 40
	maxV := 1.0
	for _, r := range results {
		maxV = max(maxV, r.RTTPerSec)
	}
	height := top + len(results)*(barH+gap) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="24" font-size="15" font-weight="bold">Round trips per second (%d-byte payload, %d in flight)</text>`+"\n", firstOr(results).Payload, firstOr(results).Inflight)
	for i, r := range results {
		y := top + i*(barH+gap)
		w := int(float64(width-left-110) * r.RTTPerSec / maxV)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-10, y+barH/2+5, html.EscapeString(r.Lane))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#3b7dd8"/>`+"\n", left, y, max(w, 1), barH)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%.0f (p50 %.1f µs)</text>`+"\n", left+w+6, y+barH/2+5, r.RTTPerSec, r.P50us)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func firstOr(r []benchResult) benchResult {
	if len(r) == 0 {
		return benchResult{}
	}
	return r[0]
}
