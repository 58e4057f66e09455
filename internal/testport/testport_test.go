package testport

import (
	"net"
	"strconv"
	"testing"
)

// Free gives ports below the ephemeral range, each one free to listen on,
// and never the same one twice in a process.
func TestFreeIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		port, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		if port < lowest || port >= low {
			t.Fatalf("port %d is outside [%d, %d)", port, lowest, low)
		}
		if seen[port] {
			t.Fatalf("port %d given twice", port)
		}
		seen[port] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("listening on the port given: %v", err)
		}
		ln.Close()
	}
}

// A port something listens on is not given.
func TestFreeSkipsAPortInUse(t *testing.T) {
	port, err := Free()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port+1, err)
	}
	defer ln.Close()
	if next, err := Free(); err != nil || next == port+1 {
		t.Fatalf("Free gave %d (%v) while it was in use", next, err)
	}
}
