package nodeipc

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Message is one event: an application event from a peer, or a lifecycle
// event (start, connect, disconnect, destroy, socket.disconnected, close,
// error, data).
type Message struct {
	Type string          // the event name
	Data json.RawMessage // the JSON of "data" as received (nil when absent); raw bytes for "data" events in raw mode
	// Socket is the peer: the connection on a server, a UDP peer address,
	// nil on a client.
	Socket *Socket
	Err    error // the error of an "error" event; a *ProtocolError for protocol violations
	// Session and Seq identify a message received through acknowledged
	// delivery (Config.Acks): the sender's session and the message's number
	// in it. A durable receiver records them with its effects (see
	// Config.AckDelivered). Zero otherwise.
	Session string
	Seq     uint64
}

// Decode unmarshals Data into v as json.Unmarshal does, with the same
// result and errors. Absent data is an error. The decoder of each type is
// made once and kept, so decoding into plain structs, maps, slices and
// basic types costs no reflection work per message; types with their own
// UnmarshalJSON or UnmarshalText methods, embedded structs and the
// ",string" option go through encoding/json.
func (m *Message) Decode(v any) error {
	if m.Data == nil {
		return errors.New("nodeipc: message has no data")
	}
	if fastDecode(m.Data, v) {
		return nil
	}
	return json.Unmarshal(m.Data, v)
}

// Lifecycle events, published by the library (a peer may not send them).
const (
	EventStart              = "start"               // server: listening
	EventConnect            = "connect"             // server: a peer connected (Message.Socket); client: connected
	EventDisconnect         = "disconnect"          // client: the connection ended or an attempt failed; a retry follows unless destroy does
	EventDestroy            = "destroy"             // client: it gave up for good
	EventClose              = "close"               // server: a peer's connection closed (after socket.disconnected)
	EventSocketDisconnected = "socket.disconnected" // server: a peer left (Data: its id or false)
	EventError              = "error"               // both: Message.Err says what; a *ProtocolError for protocol violations
	EventData               = "data"                // raw mode: the bytes of one read or datagram
)

// WildcardEvent ("*") registers a handler for every application event
// received.
const WildcardEvent = wire.Wildcard

// registry maps event names to handlers. Readers take a snapshot without
// locking; On and Off copy the map.
type registry struct {
	mu sync.Mutex
	m  atomic.Pointer[handlerSet]
}

// handlerSet is one snapshot: the handlers by event name, and the wildcard
// ones again apart, so that a received event costs one map lookup.
type handlerSet struct {
	byName map[string]*handlers
	wild   *handlers
}

func (r *registry) store(byName map[string]*handlers) {
	r.m.Store(&handlerSet{byName: byName, wild: byName[WildcardEvent]})
}

type handlers struct {
	name string // the map key, reused as Message.Type without allocating
	fns  []func(*Message)
}

func (r *registry) on(event string, h func(*Message)) {
	if h == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]*handlers)
	if cur := r.m.Load(); cur != nil {
		for k, v := range cur.byName {
			next[k] = v
		}
	}
	hs := &handlers{name: event}
	if old := next[event]; old != nil {
		hs.fns = append(hs.fns, old.fns...)
	}
	hs.fns = append(hs.fns, h)
	next[event] = hs
	r.store(next)
}

func (r *registry) off(event string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.m.Load()
	if cur == nil {
		return
	}
	next := make(map[string]*handlers, len(cur.byName))
	for k, v := range cur.byName {
		if k != event {
			next[k] = v
		}
	}
	r.store(next)
}

func (r *registry) lookup(event []byte) (*handlers, *handlers) {
	cur := r.m.Load()
	if cur == nil {
		return nil, nil
	}
	return cur.byName[string(event)], cur.wild
}

// emit calls the handlers of a lifecycle event in registration order.
func (r *registry) emit(m *Message) {
	cur := r.m.Load()
	if cur == nil {
		return
	}
	if hs := cur.byName[m.Type]; hs != nil {
		for _, h := range hs.fns {
			h(m)
		}
	}
}

// smallData is the largest data kept in the same allocation as its Message.
const smallData = 96

type smallMessage struct {
	m   Message
	buf [smallData]byte
}

// dispatch delivers a received application event: its own handlers, then the
// wildcard ones. A handler may keep the Message: data is copied, unless owned
// says that the caller hands it over (a frame joined for this delivery, never
// used again by the caller). Nothing is allocated for an event nobody listens
// to.
func (r *registry) dispatch(typ, data []byte, sock *Socket, owned bool) {
	r.dispatchSeq(typ, data, sock, owned, "", 0)
}

// dispatchSeq is dispatch for a message of acknowledged delivery.
func (r *registry) dispatchSeq(typ, data []byte, sock *Socket, owned bool, session string, seq uint64) {
	hs, wild := r.lookup(typ)
	if hs == wild {
		hs = nil // an event named "*" reaches the wildcard handlers once, as in node-ipc 14
	}
	if hs == nil && wild == nil {
		return
	}
	var m *Message
	if len(data) <= smallData {
		// One allocation holds the Message and its data.
		sm := new(smallMessage)
		m = &sm.m
		if data != nil {
			m.Data = append(sm.buf[:0:len(data)], data...)
		}
	} else if owned {
		m = &Message{Data: json.RawMessage(data[:len(data):len(data)])}
	} else {
		m = &Message{Data: append(json.RawMessage(nil), data...)}
	}
	m.Socket = sock
	m.Session, m.Seq = session, seq
	if hs != nil {
		m.Type = hs.name
	} else {
		m.Type = string(typ)
	}
	if hs != nil {
		for _, h := range hs.fns {
			h(m)
		}
	}
	if wild != nil {
		for _, h := range wild.fns {
			h(m)
		}
	}
}
