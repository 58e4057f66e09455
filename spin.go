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
// A reader polls only while few connections of the process are busy (at
// most half the processors' worth, one at least): a poller keeps a
// processor, and readers that wait on each other in one process are better
// served by the runtime's poller. For the same reason a connection whose
// other end is in this process (a client of its own server) never polls.
// Between polls the reader yields to the goroutines its handlers woke.
//
// Only the connection's reader reads through its spinner; stop may be called
// from any goroutine. A nil spinner never polls.
type spinner struct {
	budget time.Duration
	limit  int32                // polls while at most this many connections are busy
	ready  func() (bool, error) // whether a read would return at once
	state  atomic.Int32         // spinQuiet, spinBusy or spinStopped
	end    string               // a TCP connection's ends, in tcpEnds; or ""
}

const (
	spinQuiet   = iota
	spinBusy    // the last read waited at most the budget
	spinStopped // the connection is closed: never busy again
)

// busyReaders counts the busy connections of the process.
var busyReaders atomic.Int32

// maxSpinners is a new spinner's limit (GOMAXPROCS takes the scheduler's
// lock: asked once per connection, not once per read).
func maxSpinners() int32 { return int32(max(1, runtime.GOMAXPROCS(0)/2)) }

// read reads into p with read, the connection's blocking read, polling the
// socket first when the connection is busy.
func (s *spinner) read(p []byte, read func([]byte) (int, error)) (int, error) {
	if s == nil {
		return read(p)
	}
	start := time.Now()
	if s.state.Load() == spinBusy {
		s.poll(start.Add(s.budget))
	}
	n, err := read(p)
	s.setBusy(err == nil && time.Since(start) <= s.budget)
	return n, err
}

// poll returns when the socket has something to read (data, its end or an
// error), when the deadline passes, or when more than s.limit connections of
// the process are busy.
func (s *spinner) poll(deadline time.Time) {
	for busyReaders.Load() <= s.limit {
		if ok, err := s.ready(); ok || err != nil {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		runtime.Gosched()
	}
}

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
