package wire

import (
	"encoding/json"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects in a received frame,
// so that no frame can exhaust the stack of the reader.
const MaxDepth = 10000

// ParseEnvelope reads one frame (without its delimiter): a JSON object whose
// "type" member is a non-empty string. It returns the event name and the raw
// bytes of "data" (nil when absent), both slices of frame when the name has
// no escapes, so the common case allocates nothing. Extra members, any member
// order and JSON whitespace are accepted; for duplicate members the last one
// wins, as with JSON.parse. Invalid JSON (including invalid UTF-8) gives
// ERR_IPC_INVALID_JSON, a valid non-object ERR_IPC_INVALID_MESSAGE, and a
// missing or non-string or empty type ERR_IPC_INVALID_EVENT.
func ParseEnvelope(frame []byte) (typ, data []byte, err *Error) {
	i := SkipWS(frame, 0)
	if i >= len(frame) {
		return nil, nil, errorOf(CodeInvalidJSON, "empty frame")
	}
	if frame[i] != '{' {
		end, ok := ScanValue(frame, i, 0)
		if !ok || SkipWS(frame, end) != len(frame) {
			return nil, nil, invalidJSON(frame)
		}
		return nil, nil, errorOf(CodeInvalidMessage, "message must be a JSON object")
	}
	var typStart, typEnd = -1, -1
	typEscaped := false
	typIsString := false
	i = SkipWS(frame, i+1)
	if i < len(frame) && frame[i] == '}' {
		i++
	} else {
		for {
			if i >= len(frame) || frame[i] != '"' {
				return nil, nil, invalidJSON(frame)
			}
			keyEnd, keyEsc, ok := ScanString(frame, i)
			if !ok {
				return nil, nil, invalidJSON(frame)
			}
			key := frame[i+1 : keyEnd-1]
			if keyEsc {
				key = unescapeKey(frame[i:keyEnd])
			}
			i = SkipWS(frame, keyEnd)
			if i >= len(frame) || frame[i] != ':' {
				return nil, nil, invalidJSON(frame)
			}
			i = SkipWS(frame, i+1)
			valStart := i
			var valEnd int
			if i < len(frame) && frame[i] == '"' {
				var esc bool
				valEnd, esc, ok = ScanString(frame, i)
				if string(key) == "type" {
					typEscaped = esc
					typIsString = true
				}
			} else {
				valEnd, ok = ScanValue(frame, i, 1)
				if string(key) == "type" {
					typIsString = false
				}
			}
			if !ok {
				return nil, nil, invalidJSON(frame)
			}
			switch string(key) {
			case "type":
				typStart, typEnd = valStart, valEnd
			case "data":
				data = frame[valStart:valEnd]
			}
			i = SkipWS(frame, valEnd)
			if i >= len(frame) {
				return nil, nil, invalidJSON(frame)
			}
			if frame[i] == ',' {
				i = SkipWS(frame, i+1)
				continue
			}
			if frame[i] != '}' {
				return nil, nil, invalidJSON(frame)
			}
			i++
			break
		}
	}
	if SkipWS(frame, i) != len(frame) {
		return nil, nil, invalidJSON(frame)
	}
	if typStart < 0 {
		return nil, nil, errorOf(CodeInvalidEvent, "message type is missing")
	}
	if !typIsString {
		return nil, nil, errorOf(CodeInvalidEvent, "message type must be a string")
	}
	if typEnd-typStart == 2 {
		return nil, nil, errorOf(CodeInvalidEvent, "message type must not be empty")
	}
	if typEscaped {
		var s string
		if err := json.Unmarshal(frame[typStart:typEnd], &s); err != nil {
			return nil, nil, invalidJSON(frame)
		}
		return []byte(s), data, nil
	}
	return frame[typStart+1 : typEnd-1], data, nil
}

func invalidJSON(frame []byte) *Error {
	if !utf8.Valid(frame) {
		return errorOf(CodeInvalidJSON, "frame is not valid UTF-8")
	}
	return errorOf(CodeInvalidJSON, "frame is not valid JSON")
}

func unescapeKey(quoted []byte) []byte {
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return nil
	}
	return []byte(s)
}

// SkipWS returns the index of the first byte at or after i that is not JSON
// whitespace (or len(b)).
func SkipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// ScanString validates the JSON string starting at b[i] (a '"') and returns
// the index after its closing quote and whether it holds escapes. Raw control
// characters, bad escapes and invalid UTF-8 make it fail.
func ScanString(b []byte, i int) (end int, escaped, ok bool) {
	i++
	start := i
	nonASCII := false
	for i < len(b) {
		i = plainRun(b, i)
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			if nonASCII && !utf8.Valid(b[start:i]) {
				return 0, false, false
			}
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default: // c >= utf8.RuneSelf
			nonASCII = true
			i++
		}
	}
	return 0, false, false
}

// plain marks the bytes a JSON string holds as they are: printable ASCII
// other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the index of the first byte at or after i that is not
// plain (or len(s)). It tests eight bytes at a time. In a word x, a byte with
// its high bit set is not ASCII. Of the ASCII bytes, one is below 0x20 when
// subtracting 0x20 from it borrows, and one is '"' or '\\' when its XOR with
// that byte is zero and subtracting 1 borrows; a borrow sets the byte's high
// bit. Borrows run only upwards, so the lowest high bit in the result marks
// the first byte that is not plain.
func plainRun[T string | []byte](s T, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q, bs := x^('"'*ones), x^('\\'*ones)
		if m := ((x - 0x20*ones) | (q - ones) | (bs - ones) | x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ScanValue validates the JSON value starting at b[i] and returns the index
// after it. depth counts the arrays and objects that enclose b[i]; a value
// nested deeper than MaxDepth in all is refused. It keeps the containers
// it is inside on a stack of its own rather than recursing, so a deeply
// nested frame costs a byte per level, not a stack frame per level on the
// reader's goroutine (which would grow to megabytes).
func ScanValue(b []byte, i, depth int) (int, bool) {
	var open [64]byte
	stack := open[:0] // the containers entered: '{' or '['
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return 0, false
		}
		var ok bool
		switch c := b[i]; {
		case c == '"':
			i, _, ok = ScanString(b, i)
		case c == '{' || c == '[':
			if depth+len(stack) >= MaxDepth {
				return 0, false
			}
			stack = append(stack, c)
			i = SkipWS(b, i+1)
			if i < len(b) && b[i] == closerOf(c) {
				stack = stack[:len(stack)-1]
				i++
				ok = true
				break
			}
			if c == '{' {
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
			}
			continue // the container's first value
		case c == '-' || c >= '0' && c <= '9':
			i, ok = ScanNumber(b, i)
		case c == 't':
			i, ok = scanLiteral(b, i, "true")
		case c == 'f':
			i, ok = scanLiteral(b, i, "false")
		case c == 'n':
			i, ok = scanLiteral(b, i, "null")
		}
		if !ok {
			return 0, false
		}
		// After a value: the next one of its container, or the container's
		// end (and then the enclosing one's), or the end of the value.
		for {
			if len(stack) == 0 {
				return i, true
			}
			top := stack[len(stack)-1]
			i = SkipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == closerOf(top) {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return 0, false
			}
			i = SkipWS(b, i+1)
			if top == '{' {
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
			}
			break
		}
	}
}

// closerOf returns the byte that closes a container opened by c.
func closerOf(c byte) byte {
	if c == '{' {
		return '}'
	}
	return ']'
}

// scanKey validates an object member's key and colon at b[i] and returns
// the index of its value.
func scanKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, _, ok := ScanString(b, i)
	if !ok {
		return 0, false
	}
	i = SkipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return SkipWS(b, i+1), true
}

// ScanNumber validates the JSON number starting at b[i] and returns the
// index after it.
func ScanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		i = digits(b, i)
	} else {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		d := i + 1
		if i = digits(b, d); i == d {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = digits(b, i); i == d {
			return 0, false
		}
	}
	return i, true
}

// digits returns the index of the first byte at or after i that is not a
// decimal digit (or len(b)).
func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}
