package nodeipc

import (
	"encoding/json"
	"errors"
)

// EncodeFrame returns the frame node-ipc 14 writes for event and data with
// the default delimiter: {"type":event,"data":data} followed by "\f". nil
// data is written as {}; a json.RawMessage is written as given.
func EncodeFrame(event string, data any) ([]byte, error) {
	if event == "" {
		return nil, protoErr(CodeInvalidEvent, "event name must be a non-empty string")
	}
	b, err := appendEnvelope(nil, event, data, false)
	if err != nil {
		return nil, err
	}
	return append(b, DefaultDelimiter...), nil
}

// ParseFrame decodes one frame without its delimiter, as a fast-profile
// reader does: the event name and the raw JSON of data (nil when absent), or
// a *ProtocolError saying what is wrong. It is what tools that watch node-ipc
// traffic need; it never panics, whatever the input.
func ParseFrame(frame []byte) (event string, data json.RawMessage, err error) {
	typ, d, perr := parseEnvelope(frame)
	if perr != nil {
		return "", nil, perr
	}
	if d != nil {
		data = append(json.RawMessage(nil), d...)
	}
	return string(typ), data, nil
}

// SplitFrames cuts complete frames off the front of buf at each delimiter and
// returns them (without delimiters) and the unfinished rest, which the
// caller keeps and prepends to its next read. An empty delimiter is refused.
func SplitFrames(buf []byte, delimiter string) (frames [][]byte, rest []byte, err error) {
	if delimiter == "" {
		return nil, buf, errors.New("nodeipc: empty delimiter")
	}
	d := []byte(delimiter)
	for {
		i := indexDelim(buf, d)
		if i < 0 {
			return frames, buf, nil
		}
		frames = append(frames, buf[:i])
		buf = buf[i+len(d):]
	}
}
