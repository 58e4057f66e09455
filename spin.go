package nodeipc

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A spinner lets the reader of a busy stream connection poll its socket
// for a short while before it sleeps. Sleeping costs a wake-up when the
// peer's next bytes come (the runtime's poller, a thread, and often an idle
// CPU brought back); a peer in a conversation answers sooner than that. A
// connection is busy while its reads wait no longer than the budget, so a
// quiet connection never polls, and a busy one that falls quiet polls once,
// for at most the budget, before it sleeps.
//
// A poll is a read that does not wait: bytes it finds are the read's, so a
// poll that finds them at once costs what the read alone costs (one system
// call), and one that finds them later costs one call per round.
//
// Polling pays only while the peer answers within the budget and the poller
// does not keep a processor the peer needs. Polls are judged by windows of
// pollWindow: when, in two windows in a row, half the polls or more did not
// pay (the budget ran out, or the poller was taken off its processor for
// half the budget or more, which is how a loaded machine shows), the
// connection reads without polling for minOff, then tries retryWindow polls
// again; each try that does not pay doubles that time, up to maxOff. So on
// a machine busy with other work a connection reads like one that never
// polls, but for retryWindow polls a second at most. One window that does
// not pay is not enough: a moment of trouble in either process (a garbage
// collection, a burst of page faults) fails a window of a millisecond or
// two, and the windows around it pay; going off for minOff then would cost
// a quiet conversation its fast answers for a good part of that time.
//
// A reader polls only while few connections of the process are busy (at
// most half the processors' worth, one at least): a poller keeps a
// processor, and readers that wait on each other in one process are better
// served by the runtime's poller. For the same reason a connection whose
// other end is in this process (a client of its own server) never polls.
// Between polls the reader yields to the goroutines its handlers woke. (A
// yield also wakes an idle processor's thread, which takes the poller when
// the processor it was on is wanted by the peer: without it, two peers
// that poll on one processor take turns and answer in twice the budget.)
//
// Only the connection's reader reads through its spinner; stop may be called
// from any goroutine. A nil spinner never polls.
type spinner struct {
	budget time.Duration
	limit  int32                              // polls while at most this many connections are busy
	try    func(p []byte) (n int, ready bool) // a read that does not wait (socketPoller.try)
	state  atomic.Int32                       // spinQuiet, spinBusy or spinStopped
	end    string                             // a TCP connection's ends, in tcpEnds; or ""
	now    func() time.Time                   // the clock; time.Now but in tests

	// The reader's own: whether polling is off, until when (retryAt), and
	// for how long it went off last (offFor); the polls of the current
	// window and how many of them did not pay; whether the window is the
	// first after polling was off; whether the last window did not pay
	// (struck).
	off, retrying, struck bool
	retryAt               time.Time
	offFor                time.Duration
	polls, misses         int
}

const (
	spinQuiet   = iota
	spinBusy    // the last read waited at most the budget
	spinStopped // the connection is closed: never busy again
)

// pollWindow is how many polls are judged together; retryWindow, how many
// when polling is tried again after it was off (on a machine that stays
// loaded, each try costs that many polls that do not pay).
const (
	pollWindow  = 64
	retryWindow = 16
)

// minOff and maxOff bound how long a connection reads without polling
// after a window of polls that did not pay, before it tries a window
// again; each window tried that does not pay either doubles it. Polls are
// tried again at multiples of that time on the clock, so that both peers
// of a conversation that stopped polling try again together: a poll while
// the peer sleeps waits for the peer's wake-up, and tells little. On a
// machine that stays loaded this costs a window of polls every maxOff.
const (
	minOff = 16 * time.Millisecond
	maxOff = 1024 * time.Millisecond
)

// poll outcomes.
const (
	pollPaid    = iota // the socket became readable within the budget
	pollMissed         // the budget ran out, or the poller lost its processor
	pollCrowded        // too many connections of the process are busy
)

// busyReaders counts the busy connections of the process.
var busyReaders atomic.Int32

// maxSpinners is a new spinner's limit (GOMAXPROCS takes the scheduler's
// lock: asked once per connection, not once per read).
func maxSpinners() int32 { return int32(max(1, runtime.GOMAXPROCS(0)/2)) }

func (s *spinner) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return monoNow()
}

// clockBase is a reading of both clocks, taken once.
var clockBase = time.Now()

// monoNow is the time now as the monotonic clock tells it: clockBase moved
// on by the monotonic time since. time.Now reads the wall clock as well
// (52 ns against 29 ns on the benchmark machine), and the readers and the
// hold timer read the clock several times per round trip. The result's wall
// clock reading is clockBase's plus the monotonic time since, so it keeps
// to the wall clock to within what the wall clock was set since the
// process started: differences between readings are exact, and the
// spinner's retries on multiples of a period (learn) move by at most that.
func monoNow() time.Time { return clockBase.Add(time.Since(clockBase)) }

// read reads into p with read, the connection's blocking read, polling the
// socket first when the connection is busy and polls have been paying. A
// poll that finds bytes returns them: then read is not called.
func (s *spinner) read(p []byte, read func([]byte) (int, error)) (int, error) {
	if s == nil {
		return read(p)
	}
	start := s.clock()
	if s.state.Load() == spinBusy {
		if s.off && (!start.Before(s.retryAt) || s.retryAt.Sub(start) > maxOff) {
			// Due (or the wall clock was set back): try a window.
			s.off, s.retrying = false, true
		}
		if !s.off {
			n, outcome, at := s.poll(start, p)
			s.learn(outcome)
			if n > 0 {
				s.setBusy(at.Sub(start) <= s.budget)
				return n, nil
			}
		}
	}
	n, err := read(p)
	s.setBusy(err == nil && s.clock().Sub(start) <= s.budget)
	return n, err
}

// learn counts a poll's outcome; at the end of a window of pollWindow
// polls, polling goes off if half of them or more did not pay, as they did
// not in the window before; at the end of a window of retryWindow polls
// (when trying again), if half of them or more did not pay.
func (s *spinner) learn(outcome int) {
	if outcome == pollCrowded {
		return
	}
	s.polls++
	if outcome == pollMissed {
		s.misses++
	}
	window := pollWindow
	if s.retrying {
		window = retryWindow
	}
	if s.polls < window {
		return
	}
	failed := 2*s.misses >= s.polls
	s.off = failed && (s.retrying || s.struck)
	s.struck = failed && !s.off
	switch {
	case !s.off:
		s.offFor = minOff
	case s.retrying:
		s.offFor = min(2*s.offFor, maxOff)
	default:
		s.offFor = max(s.offFor, minOff)
	}
	if s.off {
		// The next multiple of offFor on the clock: the peer, if it
		// stopped polling too, tries again at the same moment.
		now := s.clock()
		s.retryAt = now.Truncate(s.offFor).Add(s.offFor)
	}
	s.polls, s.misses, s.retrying = 0, 0, false
}

// poll reads into p what the socket holds, trying again until bytes come
// (it returns how many), until a read would return at once without bytes
// (the end, an error), until the deadline passes, until the poller was off
// its processor for a good part of the budget, or while more than s.limit
// connections of the process are busy. It returns the bytes read, the
// outcome, and the time the bytes were found.
func (s *spinner) poll(start time.Time, p []byte) (int, int, time.Time) {
	deadline := start.Add(s.budget)
	// A poll round takes a system call and a yield: a microsecond or two.
	// A gap of half the budget between two rounds means that the poller was
	// not running: the processor went to another process (or to goroutines
	// of this one that run long). Shorter gaps, of 8 to 16 us, come now and
	// then on a machine with nothing else to do.
	stall := max(s.budget/2, 10*time.Microsecond)
	prev := start
	for busyReaders.Load() <= s.limit {
		if n, ready := s.try(p); n > 0 || ready {
			at := s.clock()
			if at.Sub(prev) > stall {
				return n, pollMissed, at
			}
			return n, pollPaid, at
		}
		now := s.clock()
		if now.After(deadline) || now.Sub(prev) > stall {
			return 0, pollMissed, now
		}
		prev = now
		runtime.Gosched()
	}
	return 0, pollCrowded, start
}

// busy reports whether the connection is busy: its reads poll.
func (s *spinner) busy() bool { return s != nil && s.state.Load() == spinBusy }

func (s *spinner) setBusy(busy bool) {
	switch {
	case busy && s.state.CompareAndSwap(spinQuiet, spinBusy):
		busyReaders.Add(1)
	case !busy && s.state.CompareAndSwap(spinBusy, spinQuiet):
		busyReaders.Add(-1)
	}
}

// stop marks the connection closed, no longer counted as busy.
func (s *spinner) stop() {
	if s == nil {
		return
	}
	if s.state.Swap(spinStopped) == spinBusy {
		busyReaders.Add(-1)
	}
	if s.end != "" {
		tcpEnds.CompareAndDelete(s.end, s)
	}
}

// tcpEnds holds the spinners of the process's TCP connections by their
// ends ("local>remote"), so that the two ends of a connection made within
// the process find each other.
var tcpEnds sync.Map
