package nodeipc

import "time"

// holdTimer bounds how long frames held for a batched write wait: a stream
// connection holds what handlers emit while it dispatches a read's frames, a
// UDP server what they emit while it dispatches a batch of datagrams. The
// owner guards it with its own lock.
//
// The timer is armed when something starts waiting and it is not already
// armed. Arming a runtime timer costs a wake-up of the runtime's poller, and
// a timer that fires costs another wake-up and a goroutine, so what release
// does depends on how often holds begin. When they begin often (a
// connection with many messages in flight), the timer stays armed: one
// expiry every max serves all the holds meanwhile, where stopping and
// arming it for each batch cost 8 to 13% of the round trips at 64 in
// flight. When they begin seldom (a server answering now and then),
// release stops it, which costs nothing, so that it does not fire later
// into an idle process: at 10,000 requests a second from 10 clients over
// Unix sockets, those expiries cost the server 10 to 25% of its CPU. When
// the timer fires, due re-arms it for what is still waiting, or reports
// that the wait has run out.
type holdTimer struct {
	max    time.Duration
	since  time.Time // when what is held began to wait; zero: nothing is held
	last   time.Time // when the latest hold began
	sparse bool      // the latest hold began long after the one before it
	on     bool      // the timer will fire
	t      *time.Timer
	fire   func() // the owner's timer function: it takes the lock and calls due
}

// holdsApart is how far apart, as a share of max, holds begin for release
// to stop the timer.
const holdsApart = 4

// hold notes that something starts waiting now.
func (h *holdTimer) hold() {
	now := monoNow()
	h.sparse = now.Sub(h.last) > h.max/holdsApart
	h.since, h.last = now, now
	if h.on {
		return
	}
	h.on = true
	if h.t == nil {
		h.t = time.AfterFunc(h.max, h.fire)
	} else {
		h.t.Reset(h.max)
	}
}

// release notes that nothing waits any more (it was written). After a
// hold that began long after the one before, it stops the timer; a timer
// already firing goes on, and due finds nothing held.
func (h *holdTimer) release() {
	h.since = time.Time{}
	if h.sparse && h.on && h.t.Stop() {
		h.on = false
	}
}

// due is called when the timer fires: it reports whether what is held has
// waited its time and must go now, and otherwise re-arms for the rest.
func (h *holdTimer) due() bool {
	h.on = false
	if h.since.IsZero() {
		return false
	}
	if wait := h.max - time.Since(h.since); wait > 0 {
		h.on = true
		h.t.Reset(wait)
		return false
	}
	h.since = time.Time{}
	return true
}

// stop stops the timer for good.
func (h *holdTimer) stop() {
	if h.t != nil {
		h.t.Stop()
	}
}
