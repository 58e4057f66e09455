package nodeipc

import (
	"errors"
	"testing"
	"time"
)

// BusyReaders and TCPEnds count the busy connections and the TCP
// connections recorded by their ends, for the package's external tests.
func BusyReaders() int32 { return busyReaders.Load() }

func TCPEnds() int {
	n := 0
	tcpEnds.Range(func(any, any) bool { n++; return true })
	return n
}

// fakeRead is a blocking read that waits d, then returns n bytes or err.
func fakeRead(d time.Duration, n int, err error) func([]byte) (int, error) {
	return func([]byte) (int, error) {
		time.Sleep(d)
		return n, err
	}
}

// noBusyReaders waits for the connections of earlier tests to be gone.
func noBusyReaders(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for busyReaders.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted as busy", busyReaders.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSpinnerPollsOnlyWhileTheConnectionIsBusy(t *testing.T) {
	noBusyReaders(t)
	const budget = 20 * time.Millisecond
	polls, readyNow := 0, false
	s := &spinner{budget: budget, limit: maxSpinners(), ready: func() (bool, error) { polls++; return readyNow, nil }}
	defer s.stop()
	buf := make([]byte, 8)
	steps := []struct {
		name      string
		read      func([]byte) (int, error)
		readyNow  bool
		wantPolls bool // the read polled first
		wantBusy  bool // after the read
	}{
		{"a first read never polls", fakeRead(0, 1, nil), false, false, true},
		{"a busy connection polls until the budget runs out", fakeRead(0, 1, nil), false, true, false},
		{"a quiet connection does not poll", fakeRead(3*budget, 1, nil), false, false, false},
		{"a read that waited longer stays quiet", fakeRead(0, 1, nil), false, false, true},
		{"a busy connection stops polling when bytes come", fakeRead(0, 1, nil), true, true, true},
		{"a failed read makes the connection quiet", fakeRead(0, 0, errors.New("gone")), true, true, false},
		{"then the next read does not poll", fakeRead(0, 1, nil), true, false, true},
	}
	for _, st := range steps {
		polls, readyNow = 0, st.readyNow
		start := time.Now()
		_, _ = s.read(buf, st.read)
		took := time.Since(start)
		if got := polls > 0; got != st.wantPolls {
			t.Fatalf("%s: polled %d times", st.name, polls)
		}
		if st.wantPolls && !st.readyNow && took < budget {
			t.Fatalf("%s: gave up polling after %v, before the budget of %v", st.name, took, budget)
		}
		if st.wantPolls && st.readyNow && polls != 1 {
			t.Fatalf("%s: polled %d times with bytes already there", st.name, polls)
		}
		if busy := s.state.Load() == spinBusy; busy != st.wantBusy {
			t.Fatalf("%s: busy = %v after the read", st.name, busy)
		}
		want := int32(0)
		if st.wantBusy {
			want = 1
		}
		if n := busyReaders.Load(); n != want {
			t.Fatalf("%s: %d busy connections counted, want %d", st.name, n, want)
		}
	}
}

func TestSpinnerStopsCountingAClosedConnection(t *testing.T) {
	noBusyReaders(t)
	s := &spinner{budget: time.Hour, limit: maxSpinners(), ready: func() (bool, error) { return true, nil }}
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if busyReaders.Load() != 1 {
		t.Fatalf("a busy connection counted %d times", busyReaders.Load())
	}
	s.stop()
	s.stop() // twice, as the reader and a closer may
	if busyReaders.Load() != 0 {
		t.Fatalf("%d busy connections after stop", busyReaders.Load())
	}
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if busyReaders.Load() != 0 || s.state.Load() != spinStopped {
		t.Fatal("a read after stop made the connection busy again")
	}
}

func TestSpinnerDoesNotPollWhileOtherConnectionsAreBusy(t *testing.T) {
	noBusyReaders(t)
	polls := 0
	s := &spinner{budget: time.Hour, limit: maxSpinners(), ready: func() (bool, error) { polls++; return true, nil }}
	defer s.stop()
	_, _ = s.read(nil, fakeRead(0, 1, nil)) // busy now
	others := make([]*spinner, maxSpinners())
	for i := range others {
		others[i] = &spinner{budget: time.Hour, limit: maxSpinners()}
		_, _ = others[i].read(nil, fakeRead(0, 1, nil))
	}
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if polls != 0 {
		t.Fatalf("polled with %d connections busy (at most %d may poll)", busyReaders.Load(), maxSpinners())
	}
	others[0].stop()
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if polls != 1 {
		t.Fatalf("polled %d times with %d connections busy", polls, busyReaders.Load())
	}
	for _, o := range others {
		o.stop()
	}
}

func TestSpinnerNilReadsWithoutPolling(t *testing.T) {
	var s *spinner
	n, err := s.read(make([]byte, 4), fakeRead(0, 3, nil))
	if n != 3 || err != nil {
		t.Fatalf("read = %d, %v", n, err)
	}
	s.stop()
	if newSpinner(nil, 0) != nil {
		t.Fatal("a budget of 0 made a spinner")
	}
	if c := DefaultConfig(); c.ReadSpin != DefaultReadSpin {
		t.Fatalf("DefaultConfig().ReadSpin = %v", c.ReadSpin)
	}
}

func TestSpinnerPollsStopWhenTheSocketIsClosed(t *testing.T) {
	noBusyReaders(t)
	s := &spinner{budget: time.Hour, limit: maxSpinners()}
	defer s.stop()
	s.setBusy(true)
	polls := 0
	s.ready = func() (bool, error) { polls++; return false, errors.New("closed") }
	start := time.Now()
	_, _ = s.read(make([]byte, 1), fakeRead(0, 0, errors.New("closed")))
	if polls != 1 || time.Since(start) > time.Second {
		t.Fatalf("polled %d times over %v for a closed socket", polls, time.Since(start))
	}
}

// SilentPeerTimeouts returns the idle and first-message timeouts cfg
// resolves to (0: off), for tests of the profiles' defaults.
func SilentPeerTimeouts(cfg *Config) (idle, first time.Duration) {
	r, err := newRules(cfg)
	if err != nil {
		panic(err)
	}
	return r.idleTimeout, r.firstMessageTimeout
}
