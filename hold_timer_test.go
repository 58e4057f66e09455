package nodeipc

import (
	"sync"
	"testing"
	"time"
)

// holdUnderTest is a holdTimer with an owner: its lock, and a count of the
// expiries at which due said the wait had run out, or had nothing to do.
type holdUnderTest struct {
	mu           sync.Mutex
	h            holdTimer
	due, useless int
}

func newHoldUnderTest(max time.Duration) *holdUnderTest {
	x := &holdUnderTest{}
	x.h = holdTimer{max: max, fire: func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.h.due() {
			x.due++
		} else if x.h.since.IsZero() {
			x.useless++
		}
	}}
	return x
}

func (x *holdUnderTest) do(f func(h *holdTimer)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f(&x.h)
}

// within waits up to 10 s for cond, failing the test after: a guard against
// a hang, not a measure of time.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (x *holdUnderTest) counts() (due, useless int, on bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.due, x.useless, x.h.on
}

// A hold that begins long after the one before stops the timer when it
// ends, so that no expiry comes later into an idle connection; holds that
// begin close together keep it armed, and one expiry serves them all; and a
// hold that does not end is still cut off at max, sparse or not.
func TestHoldTimerStopsAfterSparseHolds(t *testing.T) {
	const max = 40 * time.Millisecond

	// Sparse: the first hold, and one begun over max/holdsApart later.
	x := newHoldUnderTest(max)
	defer x.do(func(h *holdTimer) { h.stop() })
	for i := 0; i < 2; i++ {
		x.do(func(h *holdTimer) { h.hold(); h.release() })
		if _, _, on := x.counts(); on {
			t.Fatalf("hold %d began long after the one before, and the timer is still armed when it ended", i+1)
		}
		time.Sleep(max/holdsApart + 5*time.Millisecond)
	}
	time.Sleep(2 * max)
	if due, useless, _ := x.counts(); due+useless != 0 {
		t.Fatalf("after sparse holds the timer fired %d times (%d with nothing held)", due+useless, useless)
	}

	// Frequent: holds begun close together leave it armed; it fires once,
	// finding nothing held.
	y := newHoldUnderTest(max)
	defer y.do(func(h *holdTimer) { h.stop() })
	start := time.Now()
	for i := 0; i < 20; i++ {
		y.do(func(h *holdTimer) { h.hold(); h.release() })
	}
	if time.Since(start) < max/holdsApart {
		if _, _, on := y.counts(); !on {
			t.Fatal("holds began close together, and the timer was stopped")
		}
		within(t, "the armed timer's one expiry", func() bool { _, useless, on := y.counts(); return useless == 1 && !on })
	}

	// A hold that does not end: due says so once max has passed.
	for _, sparse := range []bool{true, false} {
		z := newHoldUnderTest(max)
		if !sparse {
			z.do(func(h *holdTimer) { h.hold(); h.release() })
		}
		began := time.Now()
		z.do(func(h *holdTimer) { h.hold() })
		within(t, "a hold cut off", func() bool { due, _, _ := z.counts(); return due == 1 })
		if waited := time.Since(began); waited < max {
			t.Fatalf("a hold was cut off after %v, before max (%v)", waited, max)
		}
		z.do(func(h *holdTimer) { h.stop() })
	}
}
