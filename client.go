package nodeipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Client is node-ipc's client: built by IPC.ConnectTo or IPC.ConnectToNet (or
// NewClient), it connects in the background, reconnects with node-ipc's
// Retry / MaxRetries / StopRetrying rules, and publishes connect, disconnect,
// destroy, error and every application event, all from one goroutine in
// order.
//
// Emits made while connecting or reconnecting are kept in a bounded outbox
// (MaxOutboxBytes) and sent in order once connected.
type Client struct {
	// ID is the name this client is registered under in IPC.Of.
	ID string

	cfg     Config
	rules   *rules
	network string // "unix", "tcp", "tls"
	address string
	host    string // for TLS verification
	events  registry

	mu       sync.Mutex
	conn     *conn // the live connection, nil while not connected
	outbox   []byte
	status   Status
	watchers []func(Status) // OnStatus
	sync     *syncQueue

	stopRetry  atomic.Bool
	startOnce  sync.Once
	wake       chan struct{} // interrupts a retry wait
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	reconnects atomic.Uint64
	syncUnsent atomic.Int64 // sync-queue frames dropped by Disconnect, reported when the client ends

	live        *IPC // the facade instance whose Config holds the retry settings, read live; or nil
	logPayloads bool // log every event sent and received (LogPayloads)
	reqs        *requests
	ack         *clientAcks // acknowledged delivery (Config.Acks); or nil
}

// Status is a client's state, from connecting to closed. OnStatus tells
// each change; Status reads it.
type Status int

// A client's statuses, in the order they can come. A client goes from
// connecting (the first attempts) to connected, and from there to
// reconnecting and connected again as its connections end and are made
// again; Disconnect and Close make it closing (flushing what it accepted),
// and every client ends closed (destroyed, in node-ipc's words).
const (
	StatusConnecting Status = iota
	StatusConnected
	StatusReconnecting
	StatusClosing
	StatusClosed
)

func (s Status) String() string {
	switch s {
	case StatusConnecting:
		return "connecting"
	case StatusConnected:
		return "connected"
	case StatusReconnecting:
		return "reconnecting"
	case StatusClosing:
		return "closing"
	case StatusClosed:
		return "closed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// NewClient builds a client for network ("unix", "tcp" or "tls") and address
// (a socket path or host:port). Register handlers with On, then call Connect.
// cfg nil means DefaultConfig; it is copied.
func NewClient(id, network, address string, cfg *Config) (*Client, error) {
	return newClient(id, network, address, cfg)
}

// Connect starts connecting (and reconnecting) in the background; events
// follow from then on. Emits made before Connect wait in the outbox. Calling
// it again does nothing.
func (c *Client) Connect() { c.startOnce.Do(func() { go c.run() }) }

func newClient(id, network, address string, cfg *Config) (*Client, error) {
	conf := resolveConfig(cfg)
	if id == "" {
		return nil, errors.New("nodeipc: client id is empty")
	}
	r, err := newRules(&conf)
	if err != nil {
		return nil, err
	}
	c := &Client{ID: id, cfg: conf, rules: r, network: network, address: address,
		wake: make(chan struct{}, 1), done: make(chan struct{}), logPayloads: conf.LogPayloads && !conf.Silent,
		reqs: newRequests(conf.MaxRequests)}
	switch network {
	case "unix", "local":
		c.network = "unix"
		if address == "" {
			return nil, errors.New("nodeipc: client path is empty")
		}
	case "tcp", "tls":
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("nodeipc: bad address %q: %w", address, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("nodeipc: bad port %q: want 1 to 65535", port)
		}
		c.host = host
		if conf.TLS != nil {
			c.network = "tls"
		}
	case "udp4", "udp6":
		return nil, errors.New("nodeipc: a UDP endpoint is a server: use ServeNet with udp4 or udp6, and Server.Emit to a UDPPeer")
	default:
		return nil, fmt.Errorf("nodeipc: unknown network %q (want unix, tcp or tls)", network)
	}
	if r.assured {
		if err := assuredClientCheck(c); err != nil {
			return nil, err
		}
	}
	if err := checkAcks(&conf, r); err != nil {
		return nil, err
	}
	if conf.Acks {
		if conf.MaxOutboxBytes <= 0 {
			return nil, errors.New("nodeipc: Acks keeps unacknowledged messages within MaxOutboxBytes, which must be positive")
		}
		c.ack = newClientAcks(&conf)
	}
	if conf.Sync {
		c.sync = newSyncQueue(conf.MaxOutboxBytes)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// On registers a handler: an application event name, "*" for every
// application event, or connect, disconnect, destroy, error (data in raw
// mode).
func (c *Client) On(event string, h func(*Message)) { c.events.on(event, h) }

// Off removes every handler of an event.
func (c *Client) Off(event string) { c.events.off(event) }

// Emit sends one event. It returns nil once the frame is queued: on the
// connection, or in the outbox while (re)connecting. Otherwise it says why
// the frame will not be sent: an invalid event, data that cannot be encoded,
// a full queue, a disabled outbox (ErrNotConnected), or a destroyed client.
// In raw mode the bytes are data, or event when data is nil (node-ipc's
// emit(value)).
//
// Delivery of an accepted frame: while the connection lives, exactly once
// and in order. Frames emitted while not connected, or queued but not yet
// written when a connection broke, wait in the outbox and go out first, in
// order, on the next connection. Disconnect and Close write what was
// accepted before they close. When the client gives up or is closed with
// frames it could not write, an error event carries an *UnsentError with
// their number. A frame already handed to the operating system when the
// server crashes or the connection breaks is delivered at most once: only
// an answer from the server (or a request's reply) says it arrived.
func (c *Client) Emit(event string, data any) error {
	if c.ack != nil {
		return c.emitAcked(event, data)
	}
	buf := getBuf()
	defer putBuf(buf)
	frame, err := c.rules.encode((*buf)[:0], event, data, c.cfg.Encoding)
	*buf = frame
	if err != nil {
		return err
	}
	if c.logPayloads {
		c.logEmit(event, data)
	}
	if c.sync != nil {
		return c.sync.push(c, frame)
	}
	return c.send(frame)
}

// send queues an encoded frame on the connection or in the outbox.
func (c *Client) send(frame []byte) error {
	_, err := c.sendOn(frame)
	return err
}

// sendOn queues an encoded frame on the connection or in the outbox, and
// returns the connection that took it (nil: the outbox).
func (c *Client) sendOn(frame []byte) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(frame)
}

// sendLocked is sendOn with c.mu held.
func (c *Client) sendLocked(frame []byte) (*conn, error) {
	if c.status >= StatusClosing {
		return nil, ErrDestroyed
	}
	if c.conn != nil {
		err := c.conn.enqueue(frame)
		if !errors.Is(err, ErrClosed) {
			return c.conn, err
		}
		// The connection is going away; the frame waits for the next one.
	}
	if c.cfg.MaxOutboxBytes <= 0 {
		return nil, ErrNotConnected
	}
	if len(c.outbox)+len(frame) > c.cfg.MaxOutboxBytes {
		return nil, fmt.Errorf("%w: %d bytes held, MaxOutboxBytes is %d", ErrOutboxFull, len(c.outbox), c.cfg.MaxOutboxBytes)
	}
	c.outbox = appendWithin(c.outbox, frame, c.cfg.MaxOutboxBytes)
	return nil, nil
}

// Handle registers h to answer the requests for event that the server sends
// with Request (a Go server, or a node-ipc server through the Node.js
// companion). A request for an event with no handler is answered with
// ERR_IPC_NO_HANDLER. A nil h removes the handler.
func (c *Client) Handle(event string, h RequestHandler) { c.reqs.handle(event, h) }

// Request sends a request for event with data to the server and waits for
// the reply: its data in a Message (Decode it), a *RemoteError when the
// server's handler failed, or ctx's error when ctx ends first. While the
// client is not connected the request waits in the outbox like an emit. It
// returns ErrConnectionLost at once when the connection the request went
// out on ends before the reply (it may or may not have been handled), and
// ErrTooManyRequests when MaxRequests are in flight. Requests bypass the
// sync queue.
func (c *Client) Request(ctx context.Context, event string, data any) (*Message, error) {
	id, p, err := c.reqs.start(event)
	if err != nil {
		return nil, err
	}
	frame, err := c.rules.appendRequest(nil, id, event, data)
	if err == nil {
		// The request is bound to the connection that takes it, under the
		// lock that connection's end takes before it fails its requests.
		c.mu.Lock()
		var cn *conn
		if cn, err = c.sendLocked(frame); err == nil {
			c.reqs.sent(p, ownerOf(cn))
		}
		c.mu.Unlock()
	}
	if err != nil {
		c.reqs.remove(id)
		return nil, err
	}
	return c.reqs.wait(ctx, id, p)
}

// ownerOf is a request's owner for a connection: nil (the outbox) for none.
func ownerOf(cn *conn) any {
	if cn == nil {
		return nil
	}
	return cn
}

// RequestStats returns the counts of this client's requests.
func (c *Client) RequestStats() RequestStats { return c.reqs.stats() }

// extension handles a request or a reply from the server on cn, and
// reports whether typ was one.
func (c *Client) extension(cn *conn, typ, data []byte) bool {
	switch string(typ) {
	case EventRequest:
		f, _ := wire.ParseFields(data)
		frame, err := c.reqs.answer(c.rules, &f, cn.context(), nil)
		if err == nil {
			err = cn.enqueue(frame)
		}
		if err != nil {
			c.publish("error", err)
		}
	case EventReply:
		f, _ := wire.ParseFields(data)
		if c.reqs.end(&f, cn, nil) {
			cn.woke = true
		}
	default:
		return false
	}
	return true
}

// Connected reports whether the client has a live connection.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Destroyed reports whether the client gave up or was disconnected: its
// status is StatusClosing or StatusClosed.
func (c *Client) Destroyed() bool { return c.Status() >= StatusClosing }

// Status returns the client's status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// OnStatus registers f to be called with each new status of the client, in
// order: on the client's goroutine (as its events are) for connected,
// reconnecting and closed, on the caller's for the closing that Disconnect
// or Close starts. Register it before Connect.
func (c *Client) OnStatus(f func(Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, f)
}

// setStatus moves the client to st and tells the watchers; a closed client
// stays closed, and a closing one only closes. It reports the status before.
func (c *Client) setStatus(st Status) Status {
	c.mu.Lock()
	old := c.status
	if old == st || old == StatusClosed || old == StatusClosing && st != StatusClosed {
		c.mu.Unlock()
		return old
	}
	c.status = st
	watchers := c.watchers
	c.mu.Unlock()
	for _, f := range watchers {
		f(st)
	}
	return old
}

// Done is closed when the client has stopped for good.
func (c *Client) Done() <-chan struct{} { return c.done }

// Reconnects counts the successful connections after the first.
func (c *Client) Reconnects() uint64 { return c.reconnects.Load() }

// StopRetrying stops reconnecting: a pending retry ends with destroy, and a
// later disconnect is final (node-ipc's stopRetrying set at run time).
func (c *Client) StopRetrying() {
	c.stopRetry.Store(true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Disconnect closes the client for good: frames already accepted by Emit are
// written first (waiting up to FlushTimeout for a connection if it is not
// connected, or was never started), the peer is told that nothing more
// comes, and events it sent until it closes too are still delivered; then
// the connection closes. No disconnect or destroy events follow (node-ipc
// 14); frames that could not be sent are reported as an error event
// carrying an *UnsentError. It does not wait; Close does.
func (c *Client) Disconnect() {
	neverStarted := false
	c.startOnce.Do(func() { neverStarted = true })
	c.mu.Lock()
	if c.status >= StatusClosing {
		c.mu.Unlock()
		return
	}
	c.status = StatusClosing
	watchers := c.watchers
	conn := c.conn
	pendingOutbox := len(c.outbox) > 0 || c.ack != nil && c.ack.send.q.len() > 0
	c.mu.Unlock()
	for _, f := range watchers {
		f(StatusClosing)
	}
	if c.sync != nil {
		// What waits in the sync queue will not be sent: it is reported
		// with the outbox when the client ends.
		c.syncUnsent.Add(int64(c.sync.fail(ErrDestroyed)))
	}
	switch {
	case conn != nil:
		conn.close(true)
	case !pendingOutbox:
		c.cancel()
		if neverStarted {
			c.finalDrop()
			close(c.done)
		}
	default:
		// Connect (or keep trying) for FlushTimeout to send what was
		// accepted, node-ipc's emit-then-disconnect pattern included,
		// then give up and report what is left.
		if neverStarted {
			go c.run()
		}
		time.AfterFunc(c.cfg.FlushTimeout, c.cancel)
	}
}

// Close disconnects (see Disconnect: what Emit accepted is written first,
// within FlushTimeout) and waits until the client has stopped or ctx ends.
// When ctx ends first, the connection is closed at once, dropping what is
// still queued (reported as an *UnsentError error event), and Close returns
// ctx's error without waiting further: a handler still running (one that
// blocks forever, say) finishes in the background. Do not call it from this
// client's handlers.
func (c *Client) Close(ctx context.Context) error {
	c.Disconnect()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.cancel()
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		if conn != nil {
			conn.close(false)
		}
		return ctx.Err()
	}
}

func (c *Client) publish(typ string, err error) {
	c.events.emit(&Message{Type: typ, Err: err})
}

// run connects, serves, and reconnects until the client is done. Every event
// of the client is published from here.
func (c *Client) run() {
	defer close(c.done)
	defer c.cancel()
	defer c.reqs.fail(nil, ErrDestroyed)
	retries := c.retrySettings().maxRetries
	attempt := 0
	connectedBefore := false
	for {
		nc, err := c.dial()
		if c.ctx.Err() != nil && err != nil {
			c.finalDrop()
			return
		}
		if err != nil {
			if c.isClosing() {
				// Disconnected while not connected: keep trying quietly
				// until FlushTimeout, to send what was accepted.
				if !c.wait(max(attempt, 1)) {
					c.finalDrop()
					return
				}
				continue
			}
			c.cfg.log("connection to", c.address, "failed:", err)
			c.publish("error", err)
			if !c.mayRetry(&retries) {
				c.giveUp()
				return
			}
			attempt++
			c.publish("disconnect", nil)
			if !c.wait(attempt) {
				c.destroyAfterWait()
				return
			}
			continue
		}
		retries, attempt = c.retrySettings().maxRetries, 0
		if connectedBefore {
			c.reconnects.Add(1)
		}
		connectedBefore = true
		perr, closing := c.serveConn(nc)
		if closing {
			if perr != nil {
				c.publish("error", perr)
			}
			c.finalDrop()
			return
		}
		if perr != nil {
			c.publish("error", perr)
		}
		var pe *ProtocolError
		if errors.As(perr, &pe) && pe.Code != CodeIncompleteFrame {
			// A protocol violation is final, as in node-ipc 14. A frame
			// cut short by the end of the connection (a server that died
			// while writing it) is not a violation: the client reconnects.
			c.giveUp()
			return
		}
		if !c.mayRetry(&retries) {
			c.giveUp()
			return
		}
		attempt++
		c.setStatus(StatusReconnecting)
		c.publish("disconnect", nil)
		if !c.wait(attempt) {
			c.destroyAfterWait()
			return
		}
	}
}

// isClosing reports whether Disconnect or Close was called.
func (c *Client) isClosing() bool { return c.Status() >= StatusClosing }

func (c *Client) dial() (net.Conn, error) {
	ctx := c.ctx
	if c.cfg.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DialTimeout)
		defer cancel()
	}
	switch c.network {
	case "unix":
		return dialLocal(ctx, c.address)
	case "tls":
		return dialTLS(ctx, c.address, c.host, &c.cfg, c.rules.assured)
	}
	return dialTCP(ctx, c.address, &c.cfg)
}

// serveConn runs one connection until it ends; it reports the error that
// ended it (nil for a clean close) and whether the client is closing. The
// outbox goes out first, in order. A client disconnected before it
// connected only flushes: it closes the connection at once, gracefully,
// and publishes nothing but what the peer sends until it closes too.
func (c *Client) serveConn(nc net.Conn) (error, bool) {
	cn := newConn(nc, c.rules, c.cfg.FlushTimeout)
	c.mu.Lock()
	flushed := len(c.outbox) > 0
	stopAcks := func() {}
	if c.ack != nil {
		stopAcks = c.startAcks(cn) // the hello goes first
		cn.pending = append(cn.pending, c.outbox...)
		c.outbox = nil
	} else {
		cn.pending, c.outbox = c.outbox, nil
	}
	c.conn = cn
	closing := c.status >= StatusClosing
	c.reqs.rebind(cn) // the requests in the outbox go out on cn
	c.mu.Unlock()
	defer stopAcks()
	cn.start()
	if closing {
		cn.close(true)
	} else {
		if c.sync != nil {
			c.sync.connected(c, flushed)
		}
		c.cfg.log("connected to", c.address)
		c.setStatus(StatusConnected)
		c.publish("connect", nil)
	}
	err := cn.readLoop(func(typ, data []byte, owned bool) { c.deliver(cn, typ, data, owned) },
		func(perr *ProtocolError) { c.publish("error", perr) })
	cn.finish()
	c.mu.Lock()
	c.conn = nil
	c.reqs.fail(cn, ErrConnectionLost)
	unsent, lost := cn.takeUnsent()
	if c.ack != nil {
		// Its messages wait, unacknowledged, to go out again; its
		// requests have failed; its acknowledgements are made afresh.
		unsent, lost = nil, 0
		if c.ack.ready == cn {
			c.ack.ready = nil
		}
	}
	if len(unsent) > 0 {
		if c.cfg.MaxOutboxBytes > 0 {
			c.outbox = append(unsent, c.outbox...)
		} else {
			lost += countFrames(unsent, c.rules)
		}
	}
	closing = c.status >= StatusClosing
	c.mu.Unlock()
	if lost > 0 {
		c.publish("error", &UnsentError{Frames: lost, Reason: "the connection broke while they were being written"})
	}
	c.cfg.log("connection to", c.address, "closed")
	return err, closing
}

// deliver is the client's receive step, for a message from the server on
// cn, decoded by the read path (typ nil in raw mode, where data is the
// bytes read): it logs the message (LogPayloads), hands the extension
// events to their handlers, dispatches the others to the application's,
// and then lets the sync queue send its next emit. owned says that data is
// the caller's to hand over (see registry.dispatch).
func (c *Client) deliver(cn *conn, typ, data []byte, owned bool) {
	if c.logPayloads {
		c.cfg.log("received event", string(typ), json.RawMessage(data))
	}
	switch {
	case c.rules.raw:
		c.events.emit(&Message{Type: "data", Data: append(json.RawMessage(nil), data...)})
	case isExtension(typ) && (c.extension(cn, typ, data) || c.ackExtension(cn, typ, data)):
		return
	default:
		c.events.dispatch(typ, data, nil, owned)
	}
	if c.sync != nil {
		c.sync.advance(c)
	}
}

// retrySettings are Retry, MaxRetries and StopRetrying as they are now: a
// facade client reads them from its IPC's Config at each decision, as
// node-ipc reads ipc.config; a client built by NewClient from its own copy.
type retrySettings struct {
	retry      time.Duration
	maxRetries int
	stop       bool
}

func (c *Client) retrySettings() retrySettings {
	if ipc := c.live; ipc != nil {
		ipc.mu.Lock()
		defer ipc.mu.Unlock()
		return retrySettings{ipc.Config.Retry, ipc.Config.MaxRetries, ipc.Config.StopRetrying}
	}
	return retrySettings{c.cfg.Retry, c.cfg.MaxRetries, c.cfg.StopRetrying}
}

// mayRetry applies node-ipc's rule: stop when StopRetrying is set or no
// retries remain; otherwise count one down.
func (c *Client) mayRetry(retries *int) bool {
	if c.retrySettings().stop || c.stopRetry.Load() || c.ctx.Err() != nil {
		return false
	}
	if *retries == RetryForever || *retries < 0 {
		return true
	}
	if *retries < 1 {
		return false
	}
	*retries--
	return true
}

// wait sleeps until the next attempt; false means stop instead.
func (c *Client) wait(attempt int) bool {
	set := c.retrySettings()
	d := set.retry
	if c.cfg.Backoff != nil {
		d = c.cfg.Backoff(attempt)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	case <-c.wake:
	}
	if c.ctx.Err() != nil {
		return false
	}
	return !c.stopRetry.Load() && (c.isClosing() || !c.retrySettings().stop)
}

// logEmit logs an emit as node-ipc 14 does with logPayloads.
func (c *Client) logEmit(event string, data any) {
	if c.rules.raw {
		c.cfg.log("dispatching event to", c.ID, c.address, ":", "<raw-buffer>", data)
		return
	}
	c.cfg.log("dispatching event to", c.ID, c.address, ":", event, data)
}

// giveUp ends the client after a final failure: destroy follows disconnect,
// and frames still in the outbox are reported as lost.
func (c *Client) giveUp() { c.end("the client gave up reconnecting", true) }

// destroyAfterWait ends a client whose retry wait was cut short: disconnect
// was published already, so only destroy follows (node-ipc 14).
func (c *Client) destroyAfterWait() { c.end("the client stopped retrying", false) }

// finalDrop ends a client that was disconnected on purpose.
func (c *Client) finalDrop() { c.end("", false) }

// end is the one way a client ends: its status becomes closed, the frames it
// could not send are reported (an *UnsentError), and, unless it was
// disconnected on purpose (no lifecycle events then, as in node-ipc 14),
// disconnect (when asked) and destroy are published.
func (c *Client) end(why string, disconnect bool) {
	onPurpose := c.setStatus(StatusClosed) == StatusClosing || c.ctx.Err() != nil
	if onPurpose {
		why = "the client was disconnected before it could send them"
	}
	c.dropOutbox(why)
	if onPurpose {
		return
	}
	if disconnect {
		c.publish("disconnect", nil)
	}
	c.publish("destroy", nil)
}

func (c *Client) dropOutbox(why string) {
	c.mu.Lock()
	n := countFrames(c.outbox, c.rules)
	c.outbox = nil
	if a := c.ack; a != nil {
		n += a.send.q.len()
		a.lost = a.lost || a.send.q.len() > 0
		a.send.q = ackQueue{}
		c.wakeFlushLocked()
	}
	c.mu.Unlock()
	if c.sync != nil {
		n += c.sync.fail(ErrDestroyed) + int(c.syncUnsent.Swap(0))
	}
	if n > 0 {
		c.publish("error", &UnsentError{Frames: n, Reason: why})
	}
}

// countFrames counts the frames in b, bytes queued for writing: one for
// raw or custom-codec bytes.
func countFrames(b []byte, r *rules) int {
	switch {
	case len(b) == 0:
		return 0
	case r.raw || r.codec != nil:
		return 1
	}
	return wire.Count(b, r.delim)
}
