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
// Polling pays only while the peer answers within the budget and the poller
// does not keep a processor the peer needs. A poll that does not pay (the
// budget ran out, or the poller was taken off its processor for a while,
// which is how a loaded machine shows) makes the connection sleep without
// polling for a number of reads that grows with each such poll, up to
// maxBackoff; polls that pay halve it. So where most polls do not pay,
// on a machine busy with other work say, a connection soon polls only once
// in many reads, and reads like one that never polls.
//
// A reader polls only while few connections of the process are busy (at
// most half the processors' worth, one at least): a poller keeps a
// processor, and readers that wait on each other in one process are better
// served by the runtime's poller. For the same reason a connection whose
// other end is in this process (a client of its own server) never polls.
// Where the process has one processor, the reader yields between polls to
// the goroutines its handlers woke; with more, other processors run them
// (a yield would wake one of them, a thread, for every round).
//
// Only the connection's reader reads through its spinner; stop may be called
// from any goroutine. A nil spinner never polls.
type spinner struct {
	budget time.Duration
	limit  int32                // polls while at most this many connections are busy
	yield  bool                 // yield to other goroutines between polls (GOMAXPROCS 1)
	ready  func() (bool, error) // whether a read would return at once
	state  atomic.Int32         // spinQuiet, spinBusy or spinStopped
	end    string               // a TCP connection's ends, in tcpEnds; or ""
	now    func() time.Time     // the clock; time.Now but in tests

	// The reader's own: after a poll that did not pay, the busy reads to
	// make without polling (skip), and how many the next such poll sets
	// (backoff).
	skip, backoff int
}

const (
	spinQuiet   = iota
	spinBusy    // the last read waited at most the budget
	spinStopped // the connection is closed: never busy again
)

// maxBackoff is the most reads a connection makes without polling between
// two polls that did not pay: on a loaded machine, one read in this many
// tries again.
const maxBackoff = 1024

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

// spinYields reports whether a new spinner yields between polls: where
// the process has one processor.
func spinYields() bool { return runtime.GOMAXPROCS(0) == 1 }

func (s *spinner) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// read reads into p with read, the connection's blocking read, polling the
// socket first when the connection is busy and polls have been paying.
func (s *spinner) read(p []byte, read func([]byte) (int, error)) (int, error) {
	if s == nil {
		return read(p)
	}
	start := s.clock()
	if s.state.Load() == spinBusy {
		if s.skip > 0 {
			s.skip--
		} else {
			s.learn(s.poll(start))
		}
	}
	n, err := read(p)
	s.setBusy(err == nil && s.clock().Sub(start) <= s.budget)
	return n, err
}

// learn adjusts the backoff to a poll's outcome: a poll that did not pay
// doubles it (plus one) and starts it; one that paid halves it, so polling
// goes on while at least about half the polls pay.
func (s *spinner) learn(outcome int) {
	switch outcome {
	case pollPaid:
		s.backoff /= 2
	case pollMissed:
		s.backoff = min(2*s.backoff+1, maxBackoff)
		s.skip = s.backoff
	}
}

// poll returns when the socket has something to read (data, its end or an
// error), when the deadline passes, when the poller was off its processor
// for a good part of the budget, or when more than s.limit connections of
// the process are busy.
func (s *spinner) poll(start time.Time) int {
	deadline := start.Add(s.budget)
	// A poll round takes a system call and a yield: about a microsecond.
	// A gap this long between two rounds means that the poller was not
	// running: the processor went to another process (or to goroutines of
	// this one that run long).
	stall := max(s.budget/4, 5*time.Microsecond)
	prev := start
	for busyReaders.Load() <= s.limit {
		if ok, err := s.ready(); ok || err != nil {
			if s.clock().Sub(prev) > stall {
				return pollMissed
			}
			return pollPaid
		}
		now := s.clock()
		if now.After(deadline) || now.Sub(prev) > stall {
			return pollMissed
		}
		prev = now
		if s.yield {
			runtime.Gosched()
		}
	}
	return pollCrowded
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
