package nodeipc

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Parser profiles, chosen with Config.Parser (node-ipc 14's `parser`).
const (
	// ParserRaw sends and receives bytes with no framing and no JSON; each
	// read or datagram is a "data" event (node-ipc's rawBuffer).
	ParserRaw = "raw"
	// ParserFast is the default: framed JSON envelopes, every malformed frame
	// an error that closes the connection, never a crash.
	ParserFast = "fast"
	// ParserGuarded adds node-ipc 14's limits: frame size, event name length,
	// pending write bytes, and the incomplete-frame timeout.
	ParserGuarded = "guarded"
	// ParserAssured is guarded plus an allow-list of events and transport
	// gates: mutual TLS for network use, local sockets only inside the
	// secure socket root.
	ParserAssured = "assured"
)

// rules is a profile resolved from a Config once, when a client or server is
// built; later changes to the Config do not affect it.
type rules struct {
	profile         string
	raw             bool
	codec           Codec // a custom wire format instead of framing
	guarded         bool  // guarded or assured
	assured         bool
	legacy          bool
	allowReserved   bool
	allowed         map[string]struct{}
	delim           []byte
	maxMessageSize  int // 0: unlimited (fast); a frame over it is refused
	maxEventName    int // in UTF-16 code units; 0: unlimited
	maxPending      int // bytes queued for writing
	messageTimeout  time.Duration
	closeOnPressure bool // over maxPending closes the connection (guarded)
	readSpin        time.Duration

	idleTimeout         time.Duration // servers: close after this long with nothing received; 0: never
	firstMessageTimeout time.Duration // servers: close when no message came this long after connecting; 0: never
}

func newRules(c *Config) (*rules, error) {
	r := &rules{
		profile:        c.Parser,
		legacy:         c.Legacy,
		allowReserved:  c.AllowReservedEvents,
		maxPending:     c.MaxPendingBytes,
		maxMessageSize: c.MaxReadBuffer,
		readSpin:       c.ReadSpin,
	}
	if r.profile == "" {
		r.profile = ParserFast
	}
	if c.RawBuffer {
		r.profile = ParserRaw
	}
	if c.Codec != nil && !c.RawBuffer {
		r.codec = c.Codec
		r.profile = "custom"
		if c.MaxPendingBytes <= 0 || c.MaxReadBuffer <= 0 {
			return nil, errors.New("nodeipc: MaxPendingBytes and MaxReadBuffer must be positive")
		}
		r.idleTimeout = profileTimeout(c.IdleTimeout, false, 0)
		r.firstMessageTimeout = profileTimeout(c.FirstMessageTimeout, false, 0)
		return r, nil
	}
	switch r.profile {
	case ParserRaw:
		r.raw = true
	case ParserFast:
	case ParserGuarded, ParserAssured:
		r.guarded = true
		r.assured = r.profile == ParserAssured
		r.closeOnPressure = true
		r.messageTimeout = c.MessageTimeout
		r.maxEventName = c.MaxEventNameLength
		if c.MaxMessageSize <= 0 {
			return nil, errors.New("nodeipc: MaxMessageSize must be positive")
		}
		if c.MaxEventNameLength <= 0 {
			return nil, errors.New("nodeipc: MaxEventNameLength must be positive")
		}
		r.maxMessageSize = min(c.MaxMessageSize, c.MaxReadBuffer)
	default:
		return nil, fmt.Errorf("nodeipc: unknown Parser %q (want raw, fast, guarded or assured)", c.Parser)
	}
	r.idleTimeout = profileTimeout(c.IdleTimeout, r.guarded, DefaultIdleTimeout)
	r.firstMessageTimeout = profileTimeout(c.FirstMessageTimeout, r.guarded, DefaultFirstMessageTimeout)
	if r.assured {
		r.allowReserved = false
		if len(c.AllowedEvents) == 0 {
			return nil, errors.New("nodeipc: the assured profile needs a non-empty AllowedEvents list")
		}
		r.allowed = make(map[string]struct{}, len(c.AllowedEvents))
		for _, e := range c.AllowedEvents {
			r.allowed[e] = struct{}{}
		}
	}
	if c.MaxPendingBytes <= 0 {
		return nil, errors.New("nodeipc: MaxPendingBytes must be positive")
	}
	if c.MaxReadBuffer <= 0 {
		return nil, errors.New("nodeipc: MaxReadBuffer must be positive")
	}
	if !r.raw {
		if c.Delimiter == "" {
			return nil, errors.New("nodeipc: Delimiter must not be empty")
		}
		r.delim = []byte(c.Delimiter)
	}
	return r, nil
}

// profileTimeout resolves a timeout setting: positive as given, negative
// off, 0 the guarded profiles' default (off elsewhere).
func profileTimeout(set time.Duration, guarded bool, def time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case set == 0 && guarded:
		return def
	}
	return 0
}

// checkName applies the event-name rules to a name received from a peer
// (incoming) or given to Emit. The error never echoes the name for the
// allow-list, which assured peers use to hide what they accept.
func (r *rules) checkName(name []byte, incoming bool) *ProtocolError {
	if len(name) == 0 {
		return protoErr(CodeInvalidEvent, "event name must be a non-empty string")
	}
	if r.maxEventName > 0 && len(name) > r.maxEventName && wire.UTF16Len(name) > r.maxEventName {
		return protoErr(CodeEventTooLarge, "event name is longer than "+strconv.Itoa(r.maxEventName)+" UTF-16 code units")
	}
	if string(name) == wire.Wildcard {
		return protoErr(CodeReservedEvent, "the wildcard event name \"*\" cannot be sent as an event")
	}
	if wire.Prototype(name) {
		return protoErr(CodeInvalidEvent, "event name "+strconv.Quote(string(name))+" is not safe for a node-ipc event dispatcher")
	}
	if !r.allowReserved && wire.Reserved(name) {
		what := "sent by the peer"
		if !incoming {
			what = "emitted"
		}
		return protoErr(CodeReservedEvent, "reserved lifecycle event "+strconv.Quote(string(name))+" "+what)
	}
	if r.allowed != nil {
		if _, ok := r.allowed[string(name)]; !ok {
			return protoErr(CodeEventNotAllowed, "event is not in the allowed list")
		}
	}
	return nil
}

// checkIncoming applies the event-name rules to a name a peer sent. fatal
// says whether the refusal ends the connection: in the guarded profiles it
// does, as in node-ipc 14; elsewhere only that frame is refused, so that a
// peer that uses a lifecycle name as an application event (node-ipc's fast
// profile delivers them) is told and stays connected.
func (r *rules) checkIncoming(name []byte) (perr *ProtocolError, fatal bool) {
	if perr = r.checkName(name, true); perr != nil {
		return perr, r.guarded
	}
	return nil, false
}

// decode reads one complete frame a peer sent (without its delimiter), for
// both read paths, a stream's and UDP's, which have checked its size: its
// event name and data (slices of frame), or why it is refused. fatal says
// whether the refusal ends the connection (over UDP, the rest of the
// datagram): it does for a frame that is not a valid envelope, and for a
// name as checkIncoming says.
func (r *rules) decode(frame []byte) (typ, data []byte, perr *ProtocolError, fatal bool) {
	typ, data, werr := wire.ParseEnvelope(frame)
	if werr != nil {
		return nil, nil, wireErr(werr), true
	}
	if perr, fatal = r.checkIncoming(typ); perr != nil {
		return nil, nil, perr, fatal
	}
	return typ, data, nil, false
}

// checkSize refuses a received frame of n bytes over the frame limit.
func (r *rules) checkSize(n int) *ProtocolError {
	if lim := r.maxMessageSize; lim > 0 && n > lim {
		return wireErr(wire.FrameTooLarge(n, lim, true))
	}
	return nil
}

// encodeFrame appends the frame for event and data, delimiter included, and
// applies the send-side rules of the profile.
func (r *rules) encodeFrame(dst []byte, event string, data any) ([]byte, error) {
	if perr := r.checkName([]byte(event), false); perr != nil {
		return dst, perr
	}
	start := len(dst)
	dst, err := wire.AppendEnvelope(dst, event, data, r.legacy, appendValue)
	if err != nil {
		return dst[:start], err
	}
	return r.finishFrame(dst, start)
}
