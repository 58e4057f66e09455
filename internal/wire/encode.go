package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
)

// EmptyObject is what node-ipc writes for omitted data.
const EmptyObject = "{}"

// LegacyEmpty reports whether node-ipc 9 and 10 write the JSON value b as
// {}: null and "" are.
func LegacyEmpty(b []byte) bool { return string(b) == "null" || string(b) == `""` }

// AppendHead appends the start of an envelope, {"type":event,"data":, for
// the data and the closing brace to follow.
func AppendHead(dst []byte, event string) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendString(dst, event)
	return append(dst, `,"data":`...)
}

// AppendEnvelope appends the compact JSON envelope {"type":...,"data":...}
// for event and data to dst, byte for byte as node-ipc 14 writes it with
// JSON.stringify: type first, no spaces, raw UTF-8 (U+2028 and U+2029
// included), only '"', '\' and control characters escaped. data is written
// as AppendData writes it.
func AppendEnvelope(dst []byte, event string, data any, legacy bool, other ValueWriter) ([]byte, error) {
	dst = AppendHead(dst, event)
	var err error
	dst, err = AppendData(dst, data, legacy, other)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// ValueWriter appends the JSON of data of a type AppendData leaves to its
// caller, with AppendData's rules.
type ValueWriter func(dst []byte, data any, legacy bool) ([]byte, error)

// AppendData appends data as JSON.stringify writes it. nil means omitted
// and is written as {}; a json.RawMessage is written as given after a
// validity check (AppendRaw); strings, booleans and numbers are written
// here, and values of other types by other (AppendMarshaled when other is
// nil). With legacy set, null, "" and NaN are written as {}, as node-ipc 9
// and 10 do.
func AppendData(dst []byte, data any, legacy bool, other ValueWriter) ([]byte, error) {
	switch v := data.(type) {
	case nil:
		return append(dst, EmptyObject...), nil
	case string:
		if legacy && v == "" {
			return append(dst, EmptyObject...), nil
		}
		return AppendString(dst, v), nil
	case json.RawMessage:
		return AppendRaw(dst, v, legacy)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case float64:
		return AppendFloat(dst, v, 64, legacy), nil
	case float32:
		return AppendFloat(dst, float64(v), 32, legacy), nil
	}
	if other != nil {
		return other(dst, data, legacy)
	}
	return AppendMarshaled(dst, data, legacy)
}

// AppendRaw writes pre-encoded JSON as given. It must be one valid JSON
// value; empty means omitted. Insignificant whitespace is removed so that a
// whitespace delimiter such as "\n" can never occur inside the frame.
func AppendRaw(dst []byte, raw []byte, legacy bool) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, EmptyObject...), nil
	}
	end, ok := ScanValue(raw, SkipWS(raw, 0), 0)
	if !ok || SkipWS(raw, end) != len(raw) {
		return dst, errors.New("nodeipc: data is a json.RawMessage that is not one valid JSON value")
	}
	// The scanner checks UTF-8 inside strings and accepts only ASCII
	// outside them, so a valid value is valid UTF-8.
	if legacy && LegacyEmpty(raw) {
		return append(dst, EmptyObject...), nil
	}
	if (raw[0] == '"' && end == len(raw)) || !hasLowByte(raw) {
		// A lone string that fills raw has no whitespace outside it, and
		// JSON whitespace is made of bytes up to ' '.
		return append(dst, raw...), nil
	}
	return appendCompact(dst, raw), nil
}

// hasLowByte reports whether b holds a byte at or below ' ', eight bytes
// at a time: in a word x, a byte below 0x21 borrows when 0x21 is
// subtracted from it, which sets its high bit, unless that bit was set
// already (a byte of 0x80 or more).
func hasLowByte(b []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := b[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if (x-0x21*ones)&^x&highs != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if b[i] <= ' ' {
			return true
		}
	}
	return false
}

// appendCompact appends valid JSON without the whitespace between its
// tokens (what json.Compact writes), keeping strings as they are.
func appendCompact(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case ' ', '\t', '\r', '\n':
			i++
		case '"':
			end, _, _ := ScanString(raw, i)
			dst = append(dst, raw[i:end]...)
			i = end
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// AppendFloat formats f as JavaScript's Number#toString does (which is also
// what encoding/json does), with the shortest digits that read back as the
// same float of bits (32 for a float32, as encoding/json writes it); -0 is
// 0, as JSON.stringify writes it; NaN and infinities are written as null, as
// JSON.stringify does, or {} in legacy mode.
func AppendFloat(dst []byte, f float64, bits int, legacy bool) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if legacy {
			return append(dst, EmptyObject...)
		}
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Turn 1e-07 into 1e-7, as JavaScript writes it.
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

var encoderPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// AppendMarshaled encodes v with encoding/json (HTML escaping off) and turns
// the \u2028 and \u2029 escapes encoding/json always writes back into raw
// UTF-8, so the result equals JSON.stringify's for the same value.
func AppendMarshaled(dst []byte, v any, legacy bool) ([]byte, error) {
	b := encoderPool.Get().(*bytes.Buffer)
	defer func() {
		if b.Cap() <= 1<<16 {
			b.Reset()
			encoderPool.Put(b)
		}
	}()
	b.Reset()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("nodeipc: cannot encode data as JSON: %w", err)
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
	if legacy && LegacyEmpty(out) {
		return append(dst, EmptyObject...), nil
	}
	if !bytes.Contains(out, []byte(`\u202`)) {
		return append(dst, out...), nil
	}
	return appendUnescapeLineSeparators(dst, out), nil
}

// appendUnescapeLineSeparators copies JSON text, writing the escapes
// \u2028 and \u2029 as raw UTF-8. Other escapes are copied unchanged.
func appendUnescapeLineSeparators(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' || i+1 >= len(src) {
			dst = append(dst, c)
			continue
		}
		if src[i+1] == 'u' && i+6 <= len(src) && string(src[i+2:i+5]) == "202" && (src[i+5] == '8' || src[i+5] == '9') {
			dst = append(dst, 0xE2, 0x80, 0xA8+(src[i+5]-'8'))
			i += 5
			continue
		}
		dst = append(dst, c, src[i+1])
		i++
	}
	return dst
}

// AppendString appends s as a JSON string literal exactly as JSON.stringify
// writes it. Invalid UTF-8 (which a JavaScript string cannot hold) is
// written as U+FFFD.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, "\ufffd") }

// AppendGoString appends s as a JSON string as encoding/json writes it with
// HTML escaping off (invalid UTF-8 as the escape \ufffd), but for U+2028
// and U+2029, which stay raw, as JSON.stringify leaves them.
func AppendGoString(dst []byte, s string) []byte { return appendString(dst, s, `\ufffd`) }

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal, each byte of invalid
// UTF-8 written as bad.
func appendString(dst []byte, s, bad string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainRun(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, bad...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
