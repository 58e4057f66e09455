package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as a benchmark peer, as the command does.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "peer" {
		if err := runPeer(os.Args[2]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLanesProduceFigures runs each lane once with tiny counts and checks
// that figures come back; it asserts nothing about speed.
func TestLanesProduceFigures(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	nd, nodeErr := nodeDir()
	for _, transport := range []string{"unix", "tcp"} {
		for _, l := range lanes {
			if (l.server == "node" || l.client == "node") && nodeErr != nil {
				t.Fatalf("%s: %v", l.name, nodeErr)
			}
			for _, inflight := range []int{64, 1} {
				m, err := runLane(self, nd, transport, l, inflight, 500, 50)
				if err != nil {
					t.Fatalf("%s over %s, %d in flight: %v", l.name, transport, inflight, err)
				}
				if m.Count != 500 || m.RTTPerSec <= 0 || m.P50us <= 0 || m.P99us < m.P50us {
					t.Fatalf("%s over %s: implausible figures %+v", l.name, transport, m)
				}
			}
		}
	}
}
