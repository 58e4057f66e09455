package nodeipc

import (
	"errors"
	"runtime"
	"sync/atomic"
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
	clock := newFakeClock()
	polls, readyNow := 0, false
	s := &spinner{budget: budget, limit: maxSpinners(), now: clock.now, ready: func() (bool, error) {
		polls++
		clock.add(time.Millisecond) // a poll round
		return readyNow, nil
	}}
	defer s.stop()
	// read waits d on the clock, then returns n bytes or err.
	read := func(d time.Duration, n int, err error) func([]byte) (int, error) {
		return func([]byte) (int, error) {
			clock.add(d)
			return n, err
		}
	}
	buf := make([]byte, 8)
	steps := []struct {
		name      string
		read      func([]byte) (int, error)
		readyNow  bool
		wantPolls bool // the read polled first
		wantBusy  bool // after the read
	}{
		{"a first read never polls", read(0, 1, nil), false, false, true},
		{"a busy connection polls until the budget runs out", read(0, 1, nil), false, true, false},
		{"a quiet connection does not poll", read(3*budget, 1, nil), false, false, false},
		{"a read that waited longer stays quiet", read(0, 1, nil), false, false, true},
		{"after a poll that did not pay, the next busy read does not poll", read(0, 1, nil), true, false, true},
		{"a busy connection stops polling when bytes come", read(0, 1, nil), true, true, true},
		{"a failed read makes the connection quiet", read(0, 0, errors.New("gone")), true, true, false},
		{"then the next read does not poll", read(0, 1, nil), true, false, true},
	}
	for _, st := range steps {
		polls, readyNow = 0, st.readyNow
		start := clock.now()
		_, _ = s.read(buf, st.read)
		took := clock.now().Sub(start)
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

// fakeClock is a spinner's clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Unix(1, 0)} }
func instantRead([]byte) (int, error)    { return 1, nil }

// spinScript drives a busy spinner on a fake clock: each read is instant,
// and each poll round takes round of the clock and then finds the socket
// readable or not as readyAfter says (ready from that round on; 0: never).
type spinScript struct {
	s      *spinner
	clock  *fakeClock
	rounds int // poll rounds in the current read
	polls  int // reads that polled
}

func newSpinScript(t *testing.T, budget time.Duration) *spinScript {
	noBusyReaders(t)
	sc := &spinScript{clock: newFakeClock()}
	sc.s = &spinner{budget: budget, limit: maxSpinners(), now: sc.clock.now}
	t.Cleanup(sc.s.stop)
	sc.s.setBusy(true)
	return sc
}

// read makes one read whose polls take round each and find bytes from
// round readyAt on (0: never), and reports whether it polled.
func (sc *spinScript) read(round time.Duration, readyAt int) bool {
	sc.rounds = 0
	sc.s.ready = func() (bool, error) {
		sc.rounds++
		sc.clock.add(round)
		return readyAt > 0 && sc.rounds >= readyAt, nil
	}
	_, _ = sc.s.read(nil, instantRead)
	sc.s.setBusy(true) // the conversation goes on, whatever the read took
	if sc.rounds > 0 {
		sc.polls++
		return true
	}
	return false
}

func TestSpinnerBacksOffWhenPollsDoNotPay(t *testing.T) {
	sc := newSpinScript(t, 20*time.Microsecond)
	// Each poll runs out its budget: the reads between two polls double
	// (plus one) each time, up to maxBackoff.
	wantGap := 0
	for range 14 {
		if !sc.read(time.Microsecond, 0) {
			t.Fatalf("a busy read after %d without polling did not poll", wantGap)
		}
		wantGap = min(2*wantGap+1, maxBackoff)
		for i := range wantGap {
			if sc.read(time.Microsecond, 0) {
				t.Fatalf("polled %d reads after a poll that did not pay; want %d without", i+1, wantGap)
			}
		}
	}
	if wantGap != maxBackoff {
		t.Fatalf("back-off reached %d reads only", wantGap)
	}
	// Polls that pay bring polling back to every read.
	for range 2 * maxBackoff * 16 {
		sc.read(time.Microsecond, 1)
		if sc.s.backoff == 0 {
			break
		}
	}
	if sc.s.backoff != 0 {
		t.Fatalf("back-off still %d after polls that paid", sc.s.backoff)
	}
	sc.s.skip = 0
	for i := range 10 {
		if !sc.read(time.Microsecond, 1) {
			t.Fatalf("read %d did not poll once polls pay again", i)
		}
	}
}

func TestSpinnerBacksOffWhenThePollerLosesItsProcessor(t *testing.T) {
	sc := newSpinScript(t, 40*time.Microsecond)
	// A round that took a quarter of the budget or more: the poller was off
	// its processor, though the bytes came within the budget.
	if !sc.read(15*time.Microsecond, 2) {
		t.Fatal("the first busy read did not poll")
	}
	if sc.s.backoff == 0 || sc.s.skip == 0 {
		t.Fatalf("no back-off after a poll that lost its processor (backoff %d, skip %d)", sc.s.backoff, sc.s.skip)
	}
	if sc.read(time.Microsecond, 1) {
		t.Fatal("polled right after a poll that lost its processor")
	}
	sc.s.stop()
	// Short rounds that find bytes within the budget pay.
	sc2 := newSpinScript(t, 40*time.Microsecond)
	for i := range 100 {
		if !sc2.read(2*time.Microsecond, 8) {
			t.Fatalf("read %d did not poll while polls pay", i)
		}
	}
	if sc2.s.backoff != 0 {
		t.Fatalf("back-off %d while every poll paid", sc2.s.backoff)
	}
}

func TestSpinnerKeepsPollingWhenMostPollsPay(t *testing.T) {
	sc := newSpinScript(t, 20*time.Microsecond)
	// One poll in eight runs out its budget: polling goes on, with short
	// pauses.
	for i := range 8000 {
		readyAt := 1
		if i%8 == 7 {
			readyAt = 0
		}
		sc.read(time.Microsecond, readyAt)
	}
	if sc.polls < 8000*3/4 {
		t.Fatalf("polled in %d of 8000 reads while 7 polls in 8 paid", sc.polls)
	}
	sc.s.stop()
	// Three polls in four running out: polling all but stops.
	sc = newSpinScript(t, 20*time.Microsecond)
	for i := range 80000 {
		readyAt := 0
		if i%4 == 3 {
			readyAt = 1
		}
		sc.read(time.Microsecond, readyAt)
	}
	if sc.polls > 80000/100 {
		t.Fatalf("polled in %d of 80000 reads while three polls in four did not pay", sc.polls)
	}
}

// With one processor, a poller yields between rounds, so a goroutine its
// handler woke runs at once rather than when the poll ends.
func TestSpinnerYieldsWithOneProcessor(t *testing.T) {
	noBusyReaders(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var woke atomic.Bool
	rounds := 0
	s := &spinner{budget: time.Hour, limit: maxSpinners(), yield: spinYields(), ready: func() (bool, error) {
		rounds++
		return woke.Load(), nil
	}}
	defer s.stop()
	s.setBusy(true)
	go woke.Store(true)
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if rounds > 10 {
		t.Fatalf("the woken goroutine ran after %d poll rounds", rounds)
	}
	if spinYields() != true {
		t.Fatal("no yielding with one processor")
	}
	runtime.GOMAXPROCS(2)
	if spinYields() {
		t.Fatal("yielding with two processors")
	}
}
