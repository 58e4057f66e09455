package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as a benchmark peer, as the command does.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "peer" {
		if err := runPeer(os.Args[2]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Peers are this binary: under -race each would sleep a second on exit.
	os.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=0 "+os.Getenv("GORACE")))
	os.Exit(m.Run())
}

// TestLanesProduceFigures runs every lane of the default run once, over
// every default transport, with tiny counts through the command's own path
// (a lane fails unless each request is answered or, over UDP, counted lost,
// with at least one answered), and checks that every row of the table has
// figures. It asserts nothing about speed.
func TestLanesProduceFigures(t *testing.T) {
	b, err := newBench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := b.measureAll(allTransports, 1, 500, 100, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(allTransports) * len(lanes); len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	for _, r := range rows {
		if r.RTTPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.LostPct >= 100 {
			t.Errorf("%s over %s: no figures: %+v", r.Lane, r.Transport, r)
		}
		if r.Lost > 0 {
			t.Logf("%s over %s: %d requests lost (%.1f%%)", r.Lane, r.Transport, r.Lost, r.LostPct)
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
			l := lane{"lossy raw server ← " + client, "raw", client}
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
