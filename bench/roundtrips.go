package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// measure is one pass's figures.
type measure struct {
	result
	cpuServer, cpuClient time.Duration // over the measured requests
	rssServer, rssCl     float64       // peak RSS in MiB
}

// cpuPerRT is the CPU time of both processes per measured round trip, in µs.
func (m measure) cpuPerRT() float64 {
	if m.Count == 0 {
		return 0
	}
	return float64((m.cpuServer + m.cpuClient).Nanoseconds()) / 1000 / float64(m.Count)
}

// timedPass reports whether a pass's client times every request (and so
// reports latencies): a latency pass, one in flight, and a datagram pass,
// which finds its lost requests by their send times. A throughput pass over
// a stream times the pass alone, as node-ipc's method does.
func timedPass(transport string, inflight int) bool {
	return inflight <= 1 || strings.HasPrefix(transport, "udp")
}

// passTimeout bounds one pass.
const passTimeout = 5 * time.Minute

// runLane starts a server process, then a client process, and returns the
// client's figures with both processes' CPU time over the measured requests
// and their peak memory. Every request must end, answered or (UDP) lost,
// and at least one must be answered.
func (b *bench) runLane(transport string, l lane, inflight, count, warmup int) (measure, error) {
	opts, cleanup, err := b.endpoint(transport)
	if err != nil {
		return measure{}, err
	}
	defer cleanup()
	if l.noSpin {
		opts["no_spin"] = true
	}
	if l.mode != "" {
		opts["mode"] = l.mode // both peers
	}
	ctx, cancel := context.WithTimeout(context.Background(), passTimeout)
	defer cancel()
	srv, err := b.startServer(ctx, l.server, opts)
	if err != nil {
		return measure{}, err
	}
	opts["role"], opts["inflight"], opts["count"], opts["warmup"] = "client", inflight, count, warmup
	if l.style != "" {
		opts["style"] = l.style
	}
	var m measure
	var s0, s1 peerStats
	found, began := false, false
	cu, cerr := b.runClient(ctx, l.client, opts, func(ev string, line []byte, _ func()) error {
		var err error
		switch ev {
		case "measuring":
			began = true
			s0, err = srv.sample()
		case "result":
			if err = json.Unmarshal(line, &m.result); err == nil {
				found = true
				s1, err = srv.sample()
			}
		}
		return err
	})
	su, serr := srv.stop()
	switch {
	case cerr != nil:
		return m, cerr
	case serr != nil:
		return m, serr
	case !found:
		return m, errors.New("no result from the client")
	case !began:
		return m, errors.New("the client never said when its measured requests began")
	case m.Count == 0:
		return m, errors.New("no round trip completed")
	case m.Count+m.Lost != count:
		return m, fmt.Errorf("%d round trips and %d lost of %d", m.Count, m.Lost, count)
	case m.RTTPerSec <= 0 || m.P99us < m.P50us || timedPass(transport, inflight) && m.P50us <= 0:
		return m, fmt.Errorf("implausible figures %+v", m.result)
	}
	m.cpuServer = time.Duration(s1.CPUus-s0.CPUus) * time.Microsecond
	m.cpuClient = time.Duration(m.CPUus) * time.Microsecond
	m.rssServer, m.rssCl = su.rss, cu.rss
	return m, nil
}

// row is one round-trip lane's reported figures: the medians of the
// repetitions, and the UDP losses of all its passes.
type row struct {
	Transport, Lane            string
	ID                         string // the lane's -lanes id
	RTTPerSec, P50us, P99us    float64
	CPUus64, CPUus1            float64 // CPU µs per round trip, both processes: 64 in flight, 1 in flight
	RSSServerMiB, RSSClientMiB float64
	Lost                       int       // requests lost, every pass of the lane
	LostPct                    float64   // of the requests measured
	RTTByRep                   []float64 // round trips a second (64 in flight), repetition by repetition
}

type laneKey struct{ transport, lane string }

// roundTripRuns collects the round-trip lanes' passes.
type roundTripRuns struct{ thr, lat map[laneKey][]measure }

func newRoundTrips() *roundTripRuns {
	return &roundTripRuns{thr: map[laneKey][]measure{}, lat: map[laneKey][]measure{}}
}

// roundTrips runs each of the plan's round-trip lanes over each transport
// once: a throughput pass (64 in flight), then a latency pass (1).
func (b *bench) roundTrips(p plan, runs *roundTripRuns, rep int, rev bool, progress io.Writer) error {
	for _, tr := range p.transports {
		for _, l := range ordered(p.lanes, rev) {
			if !l.runsOver(tr) {
				continue
			}
			k := laneKey{tr, l.id}
			m, err := b.runLane(tr, l, 64, p.count, p.count/10)
			if err != nil {
				return fmt.Errorf("%s over %s: %w", l.name, tr, err)
			}
			runs.thr[k] = append(runs.thr[k], m)
			ml, err := b.runLane(tr, l, 1, p.latCount, p.latCount/10)
			if err != nil {
				return fmt.Errorf("%s over %s (latency): %w", l.name, tr, err)
			}
			runs.lat[k] = append(runs.lat[k], ml)
			loss := ""
			if m.Lost+ml.Lost > 0 {
				loss = fmt.Sprintf("  lost %d+%d", m.Lost, ml.Lost)
			}
			fmt.Fprintf(progress, "rep %d %-4s %-42s %10.0f rtt/s %6.2f µs CPU/rt  p50 %6.1f µs%s\n", rep+1, tr, l.name,
				m.RTTPerSec, m.cpuPerRT(), ml.P50us, loss)
		}
	}
	return nil
}

func (runs *roundTripRuns) rows(p plan) []row {
	var rows []row
	for _, tr := range p.transports {
		for _, l := range p.lanes {
			if !l.runsOver(tr) {
				continue
			}
			k := laneKey{tr, l.id}
			thr, lat := runs.thr[k], runs.lat[k]
			r := row{Transport: tr, Lane: l.name, ID: l.id}
			var rate, cpu64, cpu1, rssS, rssC []float64
			for _, m := range thr {
				rate, cpu64 = append(rate, m.RTTPerSec), append(cpu64, m.cpuPerRT())
				rssS, rssC = append(rssS, m.rssServer), append(rssC, m.rssCl)
			}
			for _, m := range lat {
				cpu1 = append(cpu1, m.cpuPerRT())
			}
			r.RTTPerSec, r.CPUus64, r.CPUus1 = med(rate), med(cpu64), med(cpu1)
			r.RTTByRep = rate
			r.RSSServerMiB, r.RSSClientMiB = med(rssS), med(rssC)
			r.P50us, r.P99us = medianLatency(lat)
			sent := 0
			for _, m := range append(append([]measure(nil), thr...), lat...) {
				r.Lost += m.Lost
				sent += m.Count + m.Lost
			}
			if sent > 0 {
				r.LostPct = 100 * float64(r.Lost) / float64(sent)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// medianLatency is the p50 and p99 of the pass with the median p50.
func medianLatency(ms []measure) (p50, p99 float64) {
	if len(ms) == 0 {
		return 0, 0
	}
	s := append([]measure(nil), ms...)
	sortBy(s, func(m measure) float64 { return m.P50us })
	m := s[len(s)/2]
	return m.P50us, m.P99us
}
