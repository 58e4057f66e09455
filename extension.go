package nodeipc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Extension events: request/response and acknowledged delivery travel as
// ordinary node-ipc frames under these names, with their correlation inside
// data, because node-ipc hands only data to its handlers. The request id is
// "rid", not "id": node-ipc 9 and 10 (and 14 with identifyPeer) take a
// data.id as the peer's identity. A node-ipc peer
// that registers no handler for them ignores them. PROTOCOL.md describes
// their format. A server in the assured profile must list the ones it uses
// in AllowedEvents.
const (
	EventRequest = "nodeipc.request" // {"rid":n,"event":name,"data":value}
	EventReply   = "nodeipc.reply"   // {"rid":n,"data":value} or {"rid":n,"error":{"code":..,"message":..}}
	EventHello   = "nodeipc.hello"   // acknowledged delivery: the session handshake
	EventSeq     = "nodeipc.msg"     // acknowledged delivery: {"seq":n,"event":name,"data":value}
	EventAck     = "nodeipc.ack"     // acknowledged delivery: {"seq":n}, cumulative
)

// errExtensionNeedsFrames refuses requests and acknowledged messages on an
// endpoint without framed JSON envelopes (raw mode, a custom Codec).
var errExtensionNeedsFrames = errors.New("nodeipc: requests and acknowledged delivery need framed JSON envelopes: not raw mode or a custom Codec")

// extensionPrefix begins every extension event name.
const extensionPrefix = "nodeipc."

// isExtension reports whether a received event name is an extension's.
func isExtension(typ []byte) bool {
	return len(typ) > len(extensionPrefix) && string(typ[:len(extensionPrefix)]) == extensionPrefix
}

// frameOf appends a frame whose data is written by body, applying the
// send-side rules of the profile as encodeFrame does: the name rules for the
// frame's event, the guarded size limit, and the delimiter check.
func (r *rules) frameOf(dst []byte, event string, body func([]byte) ([]byte, error)) ([]byte, error) {
	if r.raw || r.codec != nil {
		return dst, errExtensionNeedsFrames
	}
	if perr := r.checkName([]byte(event), false); perr != nil {
		return dst, perr
	}
	start := len(dst)
	dst, err := body(wire.AppendHead(dst, event))
	if err != nil {
		return dst[:start], err
	}
	dst = append(dst, '}')
	return r.finishFrame(dst, start)
}

// finishFrame checks the frame begun at start and appends the delimiter.
func (r *rules) finishFrame(dst []byte, start int) ([]byte, error) {
	if n := len(dst) - start; r.guarded && n > r.maxMessageSize {
		return dst[:start], wireErr(wire.FrameTooLarge(n, r.maxMessageSize, true))
	}
	if len(r.delim) > 1 || r.delim[0] >= 0x20 {
		// A printable or multi-byte delimiter can occur inside JSON text;
		// such a frame would be split by every receiver.
		if wire.Index(dst[start:], r.delim) >= 0 {
			return dst[:start], fmt.Errorf("nodeipc: the encoded frame contains the delimiter %q", r.delim)
		}
	}
	return append(dst, r.delim...), nil
}

// appendRequest appends the request frame for id, event and data.
func (r *rules) appendRequest(dst []byte, id uint64, event string, data any) ([]byte, error) {
	if perr := r.checkName([]byte(event), false); perr != nil {
		return dst, perr
	}
	return r.appendCarrier(dst, EventRequest, `{"rid":`, id, event, data)
}

// appendCarrier appends a frame of the extension outer whose data carries a
// number (head: its opening and key), an event and that event's data.
func (r *rules) appendCarrier(dst []byte, outer, head string, n uint64, event string, data any) ([]byte, error) {
	return r.frameOf(dst, outer, func(b []byte) ([]byte, error) {
		b = append(b, head...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, `,"event":`...)
		b = wire.AppendString(b, event)
		b = append(b, `,"data":`...)
		b, err := appendData(b, data, r.legacy)
		return append(b, '}'), err
	})
}

// appendReply appends the reply frame for id: data, or err when it is not
// nil (its code and message).
func (r *rules) appendReply(dst []byte, id uint64, data any, err error) ([]byte, error) {
	return r.frameOf(dst, EventReply, func(b []byte) ([]byte, error) {
		b = append(b, `{"rid":`...)
		b = strconv.AppendUint(b, id, 10)
		if err != nil {
			code, msg := remoteCode(err)
			b = append(b, `,"error":{"code":`...)
			b = wire.AppendString(b, string(code))
			b = append(b, `,"message":`...)
			b = wire.AppendString(b, msg)
			return append(b, "}}"...), nil
		}
		b = append(b, `,"data":`...)
		b, err := appendData(b, data, r.legacy)
		return append(b, '}'), err
	})
}

// appendSeq appends an acknowledged message: seq, event and data.
func (r *rules) appendSeq(dst []byte, seq uint64, event string, data any) ([]byte, error) {
	if perr := r.checkSeqName([]byte(event), false); perr != nil {
		return dst, perr
	}
	return r.appendCarrier(dst, EventSeq, `{"seq":`, seq, event, data)
}

// appendAck appends a cumulative acknowledgement of seq.
func (r *rules) appendAck(dst []byte, seq uint64) ([]byte, error) {
	return r.frameOf(dst, EventAck, func(b []byte) ([]byte, error) {
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}'), nil
	})
}

// checkSeqName applies the name rules to the event an acknowledged message
// carries: the profile's, and no extension name (which would reach a
// node-ipc receiver's handlers as if it were the extension's own frame).
func (r *rules) checkSeqName(name []byte, incoming bool) *ProtocolError {
	if isExtension(name) || wire.Reserved(name) {
		// Not even with AllowReservedEvents: the message would reach a
		// node-ipc receiver's handlers as its own lifecycle event.
		return protoErr(CodeReservedEvent, "an acknowledged message cannot carry the event "+strconv.Quote(string(name)))
	}
	return r.checkName(name, incoming)
}
