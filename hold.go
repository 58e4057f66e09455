package nodeipc

import "time"

// holdTimer bounds how long frames held for a batched write wait: a stream
// connection holds what handlers emit while it dispatches a read's frames, a
// UDP server what they emit while it dispatches a batch of datagrams. The
// owner guards it with its own lock.
//
// The timer is armed when something starts waiting and it is not already
// armed, and never stopped: arming and stopping a runtime timer for every
// batch costs a wake-up of the runtime's poller each time, which doubled
// the latency of lone messages. When it fires, due re-arms it for what is
// still waiting, or reports that the wait has run out.
type holdTimer struct {
	max   time.Duration
	since time.Time // when what is held began to wait; zero: nothing is held
	on    bool      // the timer will fire
	t     *time.Timer
	fire  func() // the owner's timer function: it takes the lock and calls due
}

// hold notes that something starts waiting now.
func (h *holdTimer) hold() {
	h.since = time.Now()
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

// release notes that nothing waits any more (it was written).
func (h *holdTimer) release() { h.since = time.Time{} }

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
