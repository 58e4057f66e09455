package main

import (
	"fmt"
	"io"
)

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

func printMarkdown(w io.Writer, rep report) {
	if len(rep.Lanes) > 0 {
		fmt.Fprintln(w, "| transport | lane | round trips/s (64 in flight) | p50 µs (1 in flight) | p99 µs | CPU µs per round trip (64 / 1 in flight) | peak RSS server / client MiB | lost |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range rep.Lanes {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f / %.2f | %.0f / %.0f | %s |\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Load) > 0 {
		fmt.Fprintln(w, "| transport | 1 in flight | p50 / p99 µs | with a busy loop: p50 / p99 µs | CPU µs per round trip, without / with |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		for _, r := range rep.Load {
			fmt.Fprintf(w, "| %s | %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |\n", r.Transport, r.Lane,
				r.QuietP50us, r.QuietP99us, r.LoadedP50us, r.LoadedP99us, r.QuietCPUus, r.LoadedCPUus)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Rates) > 0 {
		fmt.Fprintln(w, "| transport | server ← clients | requests/s asked / done | server CPU % of a core | both processes % | p50 / p99 µs |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
		for _, r := range rep.Rates {
			fmt.Fprintf(w, "| %s | %s | %.0f / %.0f | %.2f | %.2f | %.1f / %.1f |\n", r.Transport, r.Lane,
				r.Asked, r.Delivered, r.ServerCPUPct, r.BothCPUPct, r.P50us, r.P99us)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Idle) > 0 {
		fmt.Fprintln(w, "| transport | server | idle connections | server RSS before / with them MiB | KiB per connection |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		for _, r := range rep.Idle {
			fmt.Fprintf(w, "| %s | %s | %d | %.1f / %.1f | %.1f |\n", r.Transport, r.Lane, r.Conns,
				r.BeforeMiB, r.AfterMiB, r.PerConnKiB)
		}
		fmt.Fprintln(w)
	}
}

func printText(w io.Writer, rep report) {
	if len(rep.Lanes) > 0 {
		fmt.Fprintf(w, "%-5s %-34s %10s %9s %9s %15s %16s %s\n", "", "lane", "rtt/s @64", "p50 µs @1", "p99 µs @1",
			"CPU µs/rt 64/1", "RSS srv/cli MiB", "lost")
		for _, r := range rep.Lanes {
			fmt.Fprintf(w, "%-5s %-34s %10.0f %9.1f %9.1f %7.2f/%-7.2f %8.0f/%-7.0f %s\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Load) > 0 {
		fmt.Fprintf(w, "%-5s %-34s %19s %19s %17s\n", "", "1 in flight", "p50/p99 µs", "busy loop p50/p99", "CPU µs/rt -/busy")
		for _, r := range rep.Load {
			fmt.Fprintf(w, "%-5s %-34s %9.1f/%-9.1f %9.1f/%-9.1f %8.2f/%-8.2f\n", r.Transport, r.Lane,
				r.QuietP50us, r.QuietP99us, r.LoadedP50us, r.LoadedP99us, r.QuietCPUus, r.LoadedCPUus)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Rates) > 0 {
		fmt.Fprintf(w, "%-5s %-40s %17s %11s %9s %17s\n", "", "server ← clients", "req/s asked/done", "server %cpu", "both %cpu", "p50/p99 µs")
		for _, r := range rep.Rates {
			fmt.Fprintf(w, "%-5s %-40s %8.0f/%-8.0f %11.2f %9.2f %8.1f/%-8.1f\n", r.Transport, r.Lane,
				r.Asked, r.Delivered, r.ServerCPUPct, r.BothCPUPct, r.P50us, r.P99us)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Idle) > 0 {
		fmt.Fprintf(w, "%-5s %-20s %7s %21s %10s\n", "", "server", "conns", "RSS before/with MiB", "KiB/conn")
		for _, r := range rep.Idle {
			fmt.Fprintf(w, "%-5s %-20s %7d %10.1f/%-10.1f %10.1f\n", r.Transport, r.Lane, r.Conns, r.BeforeMiB, r.AfterMiB, r.PerConnKiB)
		}
		fmt.Fprintln(w)
	}
}

// printRatios compares nodeipc used as its README teaches (the typical lane)
// to node-ipc, transport by transport; and the hand-tuned client when it ran.
func printRatios(w io.Writer, transports []string, rep report) {
	find := func(tr, name string) (row, bool) {
		for _, r := range rep.Lanes {
			if r.Transport == tr && r.Lane == name {
				return r, true
			}
		}
		return row{}, false
	}
	for _, tr := range transports {
		n, ok1 := find(tr, lanes[0].name)
		g, ok2 := find(tr, lanes[1].name)
		if !ok1 || !ok2 || n.RTTPerSec <= 0 {
			continue
		}
		fmt.Fprintf(w, "%s: nodeipc→nodeipc (typical) does %.1fx the round trips/s of node-ipc→node-ipc, at %.2f µs CPU per round trip vs %.2f (%.1fx less); p50 latency %.1f µs vs %.1f µs",
			tr, g.RTTPerSec/n.RTTPerSec, g.CPUus64, n.CPUus64, n.CPUus64/max(g.CPUus64, 1e-9), g.P50us, n.P50us)
		if t, ok := find(tr, lanes[2].name); ok {
			fmt.Fprintf(w, "; tuned client %.1fx", t.RTTPerSec/n.RTTPerSec)
		}
		fmt.Fprintln(w)
	}
}
