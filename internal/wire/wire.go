// Package wire holds node-ipc's wire format, apart from the endpoints that
// use it: cutting a byte stream into delimited frames, reading and writing
// the JSON envelope {"type":..,"data":..}, the data as JSON.stringify
// writes it, raw-mode byte encodings, the facts about event names, and the
// data of nodeipc's extension frames. It knows nothing of profiles,
// connections or handlers; package nodeipc applies its rules on top.
package wire

// Codes of the errors this package returns: node-ipc 14's stable codes.
const (
	CodeInvalidJSON    = "ERR_IPC_INVALID_JSON"
	CodeInvalidMessage = "ERR_IPC_INVALID_MESSAGE"
	CodeInvalidEvent   = "ERR_IPC_INVALID_EVENT"
	CodeFrameTooLarge  = "ERR_IPC_FRAME_TOO_LARGE"
	CodeInvalidRaw     = "ERR_IPC_INVALID_RAW"
)

// Error is what a rule of the wire refuses: one of the codes above and what
// was wrong. Package nodeipc hands it on as a *ProtocolError.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorOf(code, msg string) *Error { return &Error{Code: code, Message: msg} }
