package nodeipc

import (
	"errors"
	"runtime"
	"strings"
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
	s := &spinner{budget: budget, limit: maxSpinners(), now: clock.now, try: probe(func() (bool, error) {
		polls++
		clock.add(time.Millisecond) // a poll round
		return readyNow, nil
	})}
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
	s := &spinner{budget: time.Hour, limit: maxSpinners(), try: probe(func() (bool, error) { return true, nil })}
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
	s := &spinner{budget: time.Hour, limit: maxSpinners(), try: probe(func() (bool, error) { polls++; return true, nil })}
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
	s.try = probe(func() (bool, error) { polls++; return false, errors.New("closed") })
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

// probe makes a spinner's poll from ready, which says whether a read would
// return at once (or fails): the poll reads nothing, so the read that
// follows it does.
func probe(ready func() (bool, error)) func([]byte) (int, bool) {
	return func([]byte) (int, bool) {
		ok, err := ready()
		return 0, ok || err != nil
	}
}

// fakeClock is a spinner's clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Unix(1000, 0)} }

// spinScript drives a busy spinner on a fake clock: each read waits
// readWait of the clock, and each poll round takes round of it and then
// finds the socket readable or not.
type spinScript struct {
	s        *spinner
	clock    *fakeClock
	readWait time.Duration
	rounds   int // poll rounds in the current read
	polls    int // reads that polled
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
	sc.s.try = probe(func() (bool, error) {
		sc.rounds++
		sc.clock.add(round)
		return readyAt > 0 && sc.rounds >= readyAt, nil
	})
	_, _ = sc.s.read(nil, func([]byte) (int, error) {
		sc.clock.add(sc.readWait)
		return 1, nil
	})
	sc.s.setBusy(true) // the conversation goes on, whatever the read took
	if sc.rounds > 0 {
		sc.polls++
		return true
	}
	return false
}

// window makes the reads of a window of polls (pollWindow, or retryWindow
// when polling is tried again), each poll paying or not as pay says, and
// reports whether polling is off after it.
func (sc *spinScript) window(round time.Duration, pay func(poll int) bool) bool {
	n := pollWindow
	if sc.s.retrying || sc.s.off {
		n = retryWindow
	}
	for i := 0; i < n; i++ {
		readyAt := 0
		if pay(i) {
			readyAt = 1
		}
		if !sc.read(round, readyAt) {
			panic("a busy read that did not poll while polling is on")
		}
	}
	return sc.s.off
}

func never(int) bool  { return false }
func always(int) bool { return true }

func TestSpinnerStopsPollingWhenPollsDoNotPay(t *testing.T) {
	sc := newSpinScript(t, 20*time.Microsecond)
	sc.readWait = 10 * time.Microsecond
	half := func(i int) bool { return i%2 == 1 }
	// Half the polls of a window running out their budget, between windows
	// that pay: polling stays on.
	for range 3 {
		if sc.window(time.Microsecond, half) {
			t.Fatal("polling off after one window where half the polls did not pay")
		}
		if sc.window(time.Microsecond, always) {
			t.Fatal("polling off after a window where every poll paid")
		}
	}
	// Two such windows in a row: polling goes off.
	if sc.window(time.Microsecond, half) {
		t.Fatal("polling off after one window where half the polls did not pay")
	}
	if !sc.window(time.Microsecond, half) {
		t.Fatal("polling still on after two windows in a row where half the polls did not pay")
	}
	// Off: no polls until the clock reaches the next multiple of minOff,
	// then a window is tried; each window tried that does not pay doubles
	// the time off, up to maxOff.
	wantOff := minOff
	for range 10 {
		retry := sc.clock.now().Truncate(wantOff).Add(wantOff)
		for sc.clock.now().Before(retry) {
			if sc.read(time.Microsecond, 1) {
				t.Fatalf("polled %v before the retry, at %v off for %v", retry.Sub(sc.clock.now()), sc.clock.now(), wantOff)
			}
		}
		if !sc.window(time.Microsecond, never) {
			t.Fatal("polling on after a window tried where no poll paid")
		}
		wantOff = min(2*wantOff, maxOff)
	}
	if sc.s.offFor != maxOff {
		t.Fatalf("time off %v, want %v", sc.s.offFor, maxOff)
	}
	// A window tried that pays brings polling back, every read, and the
	// next time off is minOff again.
	for sc.s.off {
		sc.read(time.Microsecond, 1)
		sc.clock.add(time.Millisecond)
	}
	for sc.s.retrying {
		sc.read(time.Microsecond, 1)
	}
	if sc.s.off {
		t.Fatal("polling off after a window where every poll paid")
	}
	for range 3 * pollWindow {
		if !sc.read(time.Microsecond, 1) {
			t.Fatal("a busy read did not poll while polls pay")
		}
	}
	for i := 0; !sc.s.off; i++ {
		if i == 2*pollWindow {
			t.Fatal("polling still on after two windows where half the polls did not pay")
		}
		sc.read(time.Microsecond, i%2)
	}
	if sc.s.offFor != minOff {
		t.Fatalf("after polls that paid, off for %v, want %v", sc.s.offFor, minOff)
	}
}

func TestSpinnerStopsPollingWhenThePollerLosesItsProcessor(t *testing.T) {
	sc := newSpinScript(t, 40*time.Microsecond)
	// Rounds of half the budget or more: the poller was off its processor,
	// though the bytes came within the budget.
	sc.window(25*time.Microsecond, never)
	if !sc.window(25*time.Microsecond, never) {
		t.Fatal("polling on after two windows of polls that lost their processor")
	}
	sc.s.stop()
	// Short rounds that find bytes within the budget pay.
	sc2 := newSpinScript(t, 40*time.Microsecond)
	for range 10 {
		if sc2.window(2*time.Microsecond, always) {
			t.Fatal("polling off while every poll paid")
		}
	}
}

func TestSpinnerKeepsPollingWhenMostPollsPay(t *testing.T) {
	sc := newSpinScript(t, 20*time.Microsecond)
	sc.readWait = 20 * time.Microsecond
	// One poll in four runs out its budget: every busy read polls.
	for i := range 8000 {
		readyAt := 1
		if i%4 == 3 {
			readyAt = 0
		}
		if !sc.read(time.Microsecond, readyAt) {
			t.Fatalf("read %d did not poll while three polls in four pay", i)
		}
	}
	sc.s.stop()
	// Three polls in four running out: polling all but stops (a window is
	// tried again at most every maxOff).
	sc = newSpinScript(t, 20*time.Microsecond)
	sc.readWait = 20 * time.Microsecond
	const reads = 200000 // 4 s or more of the clock
	for range reads {
		readyAt := 0 // the next poll pays if it is the fourth of four
		if sc.polls%4 == 3 {
			readyAt = 1
		}
		sc.read(time.Microsecond, readyAt)
	}
	if sc.polls > reads/100 {
		t.Fatalf("polled in %d of %d reads while three polls in four did not pay", sc.polls, reads)
	}
}

// A poller yields between rounds, so that (with one processor too) a
// goroutine its handler woke runs at once rather than when the poll ends.
func TestSpinnerYields(t *testing.T) {
	noBusyReaders(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var woke atomic.Bool
	rounds := 0
	s := &spinner{budget: time.Hour, limit: maxSpinners(), try: probe(func() (bool, error) {
		rounds++
		return woke.Load(), nil
	})}
	defer s.stop()
	s.setBusy(true)
	go woke.Store(true)
	_, _ = s.read(nil, fakeRead(0, 1, nil))
	if rounds > 10 {
		t.Fatalf("the woken goroutine ran after %d poll rounds", rounds)
	}
}

// TestMonoNowKeepsToBothClocks checks that monoNow reads as time.Now does:
// between two readings of it on the monotonic clock, near it on the wall
// clock (within a second, so that a wall clock set while the test runs does
// not fail it), with a monotonic reading, and never going back.
func TestMonoNowKeepsToBothClocks(t *testing.T) {
	prev := monoNow()
	for i := 0; i < 1000; i++ {
		before := time.Now()
		got := monoNow()
		after := time.Now()
		if got.Before(prev) {
			t.Fatalf("monoNow went back: %v after %v", got, prev)
		}
		if got.Before(before) || got.After(after) {
			t.Fatalf("monoNow %v is not between %v and %v (monotonic)", got, before, after)
		}
		if d := got.Round(0).Sub(after.Round(0)); d > time.Second || d < -time.Second {
			t.Fatalf("monoNow's wall clock is %v from time.Now's", d)
		}
		if !strings.Contains(got.String(), " m=") {
			t.Fatalf("monoNow %v has no monotonic reading", got)
		}
		prev = got
	}
}
