package nodeipc

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Code is a protocol error's stable code: node-ipc 14's ERR_IPC_* codes with
// their meaning, and nodeipc's own for cases node-ipc does not name.
// PROTOCOL.md lists where each arises and whether it closes the connection.
type Code string

// Protocol error codes. The ERR_IPC_* codes are node-ipc 14's stable codes and
// carry the same meaning; the last group are nodeipc's own, for cases node-ipc
// does not name.
const (
	CodeInvalidJSON       Code = wire.CodeInvalidJSON         // a frame is not valid JSON (or not valid UTF-8)
	CodeInvalidMessage    Code = wire.CodeInvalidMessage      // valid JSON, but not an object
	CodeInvalidEvent      Code = wire.CodeInvalidEvent        // type missing, not a non-empty string, or a prototype name
	CodeEventTooLarge     Code = "ERR_IPC_EVENT_TOO_LARGE"    // event name longer than MaxEventNameLength
	CodeReservedEvent     Code = "ERR_IPC_RESERVED_EVENT"     // a lifecycle event name sent by a peer
	CodeEventNotAllowed   Code = "ERR_IPC_EVENT_NOT_ALLOWED"  // not in AllowedEvents (assured)
	CodeFrameTooLarge     Code = wire.CodeFrameTooLarge       // frame over MaxMessageSize (or the read buffer ceiling)
	CodeBackpressure      Code = "ERR_IPC_BACKPRESSURE"       // pending write bytes over MaxPendingBytes
	CodeMessageTimeout    Code = "ERR_IPC_MESSAGE_TIMEOUT"    // an unfinished frame waited longer than MessageTimeout
	CodeUnlinkNotSocket   Code = "ERR_IPC_UNLINK_NOT_SOCKET"  // the server path exists and is not a socket
	CodeSocketRoot        Code = "ERR_IPC_SOCKET_ROOT"        // the socket root is a symlink, not a directory, or not ours
	CodeTLSConfiguration  Code = "ERR_IPC_TLS_CONFIGURATION"  // a TLS server without key and certificate, unreadable files
	CodeAssuredTLS        Code = "ERR_IPC_ASSURED_TLS"        // assured profile without mutual TLS
	CodeAssuredTransport  Code = "ERR_IPC_ASSURED_TRANSPORT"  // assured profile on a transport it refuses
	CodeIncompleteFrame   Code = "ERR_IPC_INCOMPLETE_FRAME"   // the peer closed in the middle of a frame
	CodeDatagramTooLarge  Code = "ERR_IPC_DATAGRAM_TOO_LARGE" // a UDP frame larger than one datagram
	CodePeerNotPermitted  Code = "ERR_IPC_PEER_NOT_PERMITTED" // a local peer refused by its credentials
	CodeInvalidRawPayload Code = wire.CodeInvalidRaw          // a raw emit value the encoding cannot represent
	CodeIdleTimeout       Code = "ERR_IPC_IDLE_TIMEOUT"       // a peer sent nothing within IdleTimeout or FirstMessageTimeout
)

// ProtocolError reports a violation of the wire protocol or of a profile's
// rules. Received violations arrive as the Err of an "error" event (and the
// stream is closed); send-side violations are returned by Emit. Match it with
// errors.As and branch on Code.
type ProtocolError struct {
	Code    Code   // one of the Code* constants
	Message string // what was wrong, without echoing untrusted event names in assured
	Err     error  // an underlying cause, if any
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("nodeipc: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("nodeipc: %s: %s", e.Code, e.Message)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(code Code, msg string) *ProtocolError {
	return &ProtocolError{Code: code, Message: msg}
}

// wireErr is a refusal of the wire's rules as a *ProtocolError.
func wireErr(e *wire.Error) *ProtocolError {
	return &ProtocolError{Code: Code(e.Code), Message: e.Message}
}

// Sentinel errors returned by the API.
var (
	// ErrClosed is returned by Emit on a socket, client or server that is
	// closed or closing. It wraps net.ErrClosed semantics: errors.Is(err,
	// net.ErrClosed) also holds.
	ErrClosed = fmt.Errorf("nodeipc: closed: %w", net.ErrClosed)
	// ErrNotConnected is returned by a client's Emit while it is not
	// connected and its outbox is disabled (MaxOutboxBytes 0), as node-ipc
	// would drop the frame.
	ErrNotConnected = errors.New("nodeipc: not connected (outbox disabled)")
	// ErrOutboxFull is returned by a client's Emit while it is not connected
	// and its outbox holds MaxOutboxBytes already.
	ErrOutboxFull = errors.New("nodeipc: outbox full while not connected")
	// ErrDestroyed is returned by a client that gave up reconnecting or was
	// disconnected.
	ErrDestroyed = errors.New("nodeipc: client destroyed")
	// ErrNotStarted is returned by a server's Emit or Broadcast before Start.
	ErrNotStarted = errors.New("nodeipc: server not started")
	// ErrStopped is returned by Start on a stopped server.
	ErrStopped = errors.New("nodeipc: server stopped")
	// ErrUnknownSocket is returned by Server.Emit for a socket that does not
	// belong to that server.
	ErrUnknownSocket = errors.New("nodeipc: socket does not belong to this server")
	// ErrUnsupportedPlatform is returned, on a platform with neither Unix
	// sockets nor Windows named pipes (js/wasm, wasip1, plan9), by what needs
	// them: local endpoints and cluster listeners. The codec (EncodeFrame,
	// ParseFrame) works everywhere.
	ErrUnsupportedPlatform = errors.New("nodeipc: local endpoints are not supported on " + runtime.GOOS + "/" + runtime.GOARCH + " (Unix and Windows only)")
)

// ErrNoInheritedListener is returned by InheritedListener in a process that
// was not given a listener by ShareListener.
var ErrNoInheritedListener = errors.New("nodeipc: no inherited listener (" + listenerEnv + " is not set)")

// UnsentError reports frames Emit accepted that were never sent, as the Err
// of an error event: a client that gave up or was closed with frames it
// could not write, a server socket that ended with frames still queued for
// it, acknowledged messages never acknowledged.
type UnsentError struct {
	Frames int
	Reason string
}

func (e *UnsentError) Error() string {
	return fmt.Sprintf("nodeipc: %d queued frame(s) not sent: %s", e.Frames, e.Reason)
}

// Request error codes: what a responder answers when it cannot run a
// handler (nodeipc's own).
const (
	CodeNoHandler      Code = "ERR_IPC_NO_HANDLER"      // no handler for the request's event
	CodeHandlerFailed  Code = "ERR_IPC_HANDLER_FAILED"  // the handler returned an error without a code of its own
	CodeInvalidRequest Code = "ERR_IPC_INVALID_REQUEST" // the request names no valid event
)

var (
	// ErrTooManyRequests is returned by Request when MaxRequests requests
	// are in flight already.
	ErrTooManyRequests = errors.New("nodeipc: too many requests in flight (MaxRequests)")
	// ErrConnectionLost is returned by Request when the connection the
	// request went out on ends before the reply comes: the request may or
	// may not have been handled.
	ErrConnectionLost = errors.New("nodeipc: the connection ended before the reply came")
)

// RemoteError is a request's failure as the responder reported it: the
// error its handler returned (Code ERR_IPC_HANDLER_FAILED unless the handler
// returned a *RemoteError with a code of its own), or ERR_IPC_NO_HANDLER.
// A handler returns one to give its error a code; the requester gets it
// from Request, to match with errors.As.
type RemoteError struct {
	Code    Code
	Message string
}

func (e *RemoteError) Error() string {
	return "nodeipc: remote error " + string(e.Code) + ": " + e.Message
}

// Acknowledged delivery error codes (nodeipc's own).
const (
	CodeAcksUnsupported Code = "ERR_IPC_ACKS_UNSUPPORTED" // the peer does not acknowledge (no hello answer, or acks off)
	CodeAckSequence     Code = "ERR_IPC_ACK_SEQUENCE"     // an acknowledged message out of sequence, or a malformed handshake
)
