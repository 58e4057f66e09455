package nodeipc

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Request/response, both roles and every transport: a requester sends an
// EventRequest frame with an id and waits for the EventReply with the same
// id; the responder runs the handler registered with Handle for the
// request's event and sends back its value or its error.

// DefaultMaxRequests bounds the requests a client or server has in flight
// (nodeipc's own).
const DefaultMaxRequests = 1024

// remoteCode is the code and message a reply carries for err.
func remoteCode(err error) (code Code, msg string) {
	var re *RemoteError
	if errors.As(err, &re) && re.Code != "" {
		return re.Code, re.Message
	}
	return CodeHandlerFailed, err.Error()
}

// RequestHandler answers a request: the value it returns is the reply's
// data (encoded as Emit encodes data; a json.RawMessage is sent as is), an
// error is the requester's *RemoteError. It runs on the connection's
// reader, in order with the connection's other events, as On handlers do;
// ctx ends when the connection starts closing or has ended (over UDP, when
// the server stops).
type RequestHandler func(ctx context.Context, m *Message) (any, error)

// RequestStats counts a requester's requests.
type RequestStats struct {
	InFlight int    // requests waiting for their reply
	Late     uint64 // replies that came after their request had ended (cancelled, timed out, or its connection lost), dropped
}

// requests is one endpoint's request/response state: the handlers it
// answers with, and its own requests in flight.
type requests struct {
	handlers atomic.Pointer[map[string]RequestHandler]
	hmu      sync.Mutex

	mu      sync.Mutex
	next    uint64
	max     int
	pending map[uint64]*pendingRequest
	late    atomic.Uint64
}

// pendingRequest is one request in flight. owner is what it went out on: a
// connection (*conn), a UDP peer's address, or nil while it waits in a
// client's outbox.
type pendingRequest struct {
	event string
	owner any
	done  chan requestResult // buffered: the reply never waits
}

type requestResult struct {
	m   *Message
	err error
}

func newRequests(max int) *requests {
	if max <= 0 {
		max = DefaultMaxRequests
	}
	return &requests{max: max, pending: map[uint64]*pendingRequest{}}
}

// handle registers h for event, replacing an earlier one.
func (q *requests) handle(event string, h RequestHandler) {
	q.hmu.Lock()
	defer q.hmu.Unlock()
	next := map[string]RequestHandler{}
	if cur := q.handlers.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	if h == nil {
		delete(next, event)
	} else {
		next[event] = h
	}
	q.handlers.Store(&next)
}

func (q *requests) handler(event []byte) RequestHandler {
	if cur := q.handlers.Load(); cur != nil {
		return (*cur)[string(event)]
	}
	return nil
}

// start registers a request and returns its id.
func (q *requests) start(event string) (uint64, *pendingRequest, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= q.max {
		return 0, nil, ErrTooManyRequests
	}
	for {
		if q.next++; q.next > wire.MaxSafeInteger {
			q.next = 1
		}
		if q.pending[q.next] == nil {
			break
		}
	}
	p := &pendingRequest{event: event, done: make(chan requestResult, 1)}
	q.pending[q.next] = p
	return q.next, p, nil
}

// sent records what the request went out on.
func (q *requests) sent(p *pendingRequest, owner any) {
	q.mu.Lock()
	p.owner = owner
	q.mu.Unlock()
}

// remove forgets a request that ended without its reply.
func (q *requests) remove(id uint64) {
	q.mu.Lock()
	delete(q.pending, id)
	q.mu.Unlock()
}

// wait waits for the reply of request id, or for ctx to end (then the
// request is forgotten: a reply that comes later is counted late).
func (q *requests) wait(ctx context.Context, id uint64, p *pendingRequest) (*Message, error) {
	select {
	case r := <-p.done:
		return r.m, r.err
	case <-ctx.Done():
	}
	q.remove(id)
	select {
	case r := <-p.done: // the reply won the race
		return r.m, r.err
	default:
	}
	return nil, ctx.Err()
}

// end finishes the request the reply f is for, if it is in flight and came
// from what it went out on, and reports true; otherwise the reply is late.
func (q *requests) end(f *wire.Fields, from any, sock *Socket) bool {
	q.mu.Lock()
	p := q.pending[f.ID]
	if p == nil || !f.HasID || (p.owner != nil && p.owner != from) {
		q.mu.Unlock()
		q.late.Add(1)
		return false
	}
	delete(q.pending, f.ID)
	q.mu.Unlock()
	r := requestResult{m: &Message{Type: p.event, Socket: sock}}
	switch {
	case f.Error != nil:
		code, msg := Code(stringField(f.Error, "code")), stringField(f.Error, "message")
		if code == "" {
			code = CodeHandlerFailed
		}
		r = requestResult{err: &RemoteError{Code: code, Message: msg}}
	case f.Data != nil:
		r.m.Data = append([]byte(nil), f.Data...)
	}
	p.done <- r
	return true
}

// fail ends every request that went out on owner (nil: every request).
func (q *requests) fail(owner any, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, p := range q.pending {
		if owner == nil || p.owner == owner {
			delete(q.pending, id)
			p.done <- requestResult{err: err}
		}
	}
}

// rebind moves the requests waiting in an outbox (no owner yet) to the
// connection that takes the outbox.
func (q *requests) rebind(to any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pending {
		if p.owner == nil {
			p.owner = to
		}
	}
}

func (q *requests) stats() RequestStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return RequestStats{InFlight: len(q.pending), Late: q.late.Load()}
}

// stringField returns the string member name of the JSON object obj, or "".
func stringField(obj []byte, name string) string {
	var out string
	wire.EachField(obj, func(key, val []byte) {
		if string(key) == name {
			out = string(wire.StringValue(val))
		}
	})
	return out
}

// answer runs the handler of a received request and returns the reply
// frame to send back, or nil with an error to report locally when the
// request cannot be answered (it has no id).
func (q *requests) answer(r *rules, f *wire.Fields, ctx context.Context, sock *Socket) ([]byte, error) {
	if !f.HasID || f.ID == 0 {
		return nil, protoErr(CodeInvalidRequest, "a request without a valid rid cannot be answered")
	}
	var v any
	var err error
	switch {
	case len(f.Event) == 0:
		err = &RemoteError{Code: CodeInvalidRequest, Message: "the request names no event"}
	default:
		if perr, _ := r.checkIncoming(f.Event); perr != nil {
			err = &RemoteError{Code: CodeInvalidRequest, Message: perr.Message}
			break
		}
		h := q.handler(f.Event)
		if h == nil {
			err = &RemoteError{Code: CodeNoHandler, Message: "no handler for " + strconv.Quote(string(f.Event))}
			break
		}
		m := &Message{Type: string(f.Event), Socket: sock}
		if f.Data != nil {
			m.Data = append([]byte(nil), f.Data...)
		}
		v, err = h(ctx, m)
	}
	frame, encErr := r.appendReply(nil, f.ID, v, err)
	if encErr != nil {
		// The handler's value cannot be sent: the requester is told why.
		frame, encErr = r.appendReply(nil, f.ID, nil, &RemoteError{Code: CodeHandlerFailed, Message: encErr.Error()})
	}
	return frame, encErr
}
