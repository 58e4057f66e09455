package nodeipc

import (
	"bytes"
	"fmt"
	"sync"
)

// syncQueue is node-ipc's sync mode: the first emit is sent at once, each
// later one after one inbound message (per message in framed mode, per read
// in raw mode). It holds at most max bytes; what it holds when the client
// ends is reported as an UnsentError.
type syncQueue struct {
	mu     sync.Mutex
	frames [][]byte
	bytes  int
	max    int
	busy   bool // one emit is out and waits for an inbound message
}

func newSyncQueue(max int) *syncQueue {
	if max <= 0 {
		max = DefaultMaxOutboxBytes
	}
	return &syncQueue{max: max}
}

func (q *syncQueue) push(c *Client, frame []byte) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return c.send(frame)
	}
	if q.bytes+len(frame) > q.max {
		q.mu.Unlock()
		return fmt.Errorf("%w: the sync queue holds %d bytes", ErrOutboxFull, q.bytes)
	}
	q.frames = append(q.frames, bytes.Clone(frame))
	q.bytes += len(frame)
	q.mu.Unlock()
	return nil
}

// advance releases the next queued emit, or marks the queue idle.
func (q *syncQueue) advance(c *Client) {
	q.mu.Lock()
	if len(q.frames) == 0 {
		q.busy = false
		q.mu.Unlock()
		return
	}
	f := q.frames[0]
	q.frames[0] = nil
	q.frames = q.frames[1:]
	q.bytes -= len(f)
	q.mu.Unlock()
	if err := c.send(f); err != nil {
		c.publish("error", fmt.Errorf("nodeipc: sync queue: %w", err))
	}
}

// connected restarts the queue on a new connection. An emit that was out
// on an earlier connection will get no answer there, so the next one is
// released; but an emit that never left (it waited in the outbox, which is
// now being written first on this connection) is still the one in flight.
func (q *syncQueue) connected(c *Client, flushed bool) {
	q.mu.Lock()
	busy := q.busy
	q.mu.Unlock()
	if busy && !flushed {
		q.advance(c)
	}
}

// fail empties the queue and returns how many emits it dropped.
func (q *syncQueue) fail(error) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.frames)
	q.frames, q.bytes, q.busy = nil, 0, false
	return n
}
