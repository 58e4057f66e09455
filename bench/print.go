package main

import (
	"fmt"
	"io"
	"strings"
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

// splitRows returns the rows of the plain lanes and those of the request
// and acked lanes, each in the order of rs.
func splitRows(rs []row) (plain, modes []row) {
	for _, r := range rs {
		if l, ok := laneByID(r.ID); ok && l.mode != "" {
			modes = append(modes, r)
		} else {
			plain = append(plain, r)
		}
	}
	return plain, modes
}

// against compares a request or acked lane's row with the row of its plain
// lane over the same transport, when that ran: the share of its round trips
// per second, and the CPU time per round trip (64 in flight) it adds.
func against(r row, all []row) (base string, rate, cpu float64, ok bool) {
	l, found := laneByID(r.ID)
	if !found || l.base == "" {
		return "", 0, 0, false
	}
	for _, b := range all {
		if b.Transport == r.Transport && b.ID == l.base && b.RTTPerSec > 0 {
			return l.base, r.RTTPerSec / b.RTTPerSec, r.CPUus64 - b.CPUus64, true
		}
	}
	return "", 0, 0, false
}

// againstText is against's figures in a cell: "0.71× / +2.30 µs (typical)",
// or "–" without the plain lane.
func againstText(r row, all []row) string {
	base, rate, cpu, ok := against(r, all)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f× / %+.2f µs (%s)", rate, cpu, base)
}

func printMarkdown(w io.Writer, rep report) {
	plain, modes := splitRows(rep.Lanes)
	if len(plain) > 0 {
		fmt.Fprintln(w, "| transport | lane | round trips/s (64 in flight) | p50 µs (1 in flight) | p99 µs | CPU µs per round trip (64 / 1 in flight) | peak RSS server / client MiB | lost |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range plain {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f / %.2f | %.0f / %.0f | %s |\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
		}
		fmt.Fprintln(w)
	}
	if len(modes) > 0 {
		fmt.Fprintln(w, "| transport | lane | round trips/s (64 in flight) | p50 µs (1 in flight) | p99 µs | CPU µs per round trip (64 / 1 in flight) | against plain emits: round trips/s, CPU per round trip (lane) | peak RSS server / client MiB |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range modes {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f / %.2f | %s | %.0f / %.0f |\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, againstText(r, rep.Lanes), r.RSSServerMiB, r.RSSClientMiB)
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
	plain, modes := splitRows(rep.Lanes)
	if len(plain) > 0 {
		fmt.Fprintf(w, "%-5s %-34s %10s %9s %9s %15s %16s %s\n", "", "lane", "rtt/s @64", "p50 µs @1", "p99 µs @1",
			"CPU µs/rt 64/1", "RSS srv/cli MiB", "lost")
		for _, r := range plain {
			fmt.Fprintf(w, "%-5s %-34s %10.0f %9.1f %9.1f %7.2f/%-7.2f %8.0f/%-7.0f %s\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, r.RSSServerMiB, r.RSSClientMiB, lossText(r))
		}
		fmt.Fprintln(w)
	}
	if len(modes) > 0 {
		fmt.Fprintf(w, "%-5s %-42s %10s %9s %9s %15s %16s  %s\n", "", "lane", "rtt/s @64", "p50 µs @1", "p99 µs @1",
			"CPU µs/rt 64/1", "RSS srv/cli MiB", "against plain: rtt/s, CPU/rt")
		for _, r := range modes {
			fmt.Fprintf(w, "%-5s %-42s %10.0f %9.1f %9.1f %7.2f/%-7.2f %8.0f/%-7.0f  %s\n", r.Transport, r.Lane,
				r.RTTPerSec, r.P50us, r.P99us, r.CPUus64, r.CPUus1, r.RSSServerMiB, r.RSSClientMiB, againstText(r, rep.Lanes))
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
		if by := byRepetition(g.RTTByRep, n.RTTByRep); by != "" {
			fmt.Fprintf(w, "; typical by repetition %s", by)
		}
		fmt.Fprintln(w)
	}
}

// byRepetition is the ratio of a to b repetition by repetition ("4.7x
// 5.9x"), or "" for a single repetition: on a machine with other work the
// lanes of one repetition share its conditions, and the ratio of medians
// can hide how far apart they were.
func byRepetition(a, b []float64) string {
	n := min(len(a), len(b))
	if n < 2 {
		return ""
	}
	parts := make([]string, 0, n)
	for i := range n {
		if b[i] <= 0 {
			return ""
		}
		parts = append(parts, fmt.Sprintf("%.1fx", a[i]/b[i]))
	}
	return strings.Join(parts, " ")
}
