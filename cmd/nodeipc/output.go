package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// printer writes what a command sees: one line per event, as text (coloured
// on a terminal unless NO_COLOR or --no-color) or as JSON lines (--json).
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	color bool
}

func newPrinter(g *globals, w io.Writer) *printer {
	return &printer{w: w, json: g.json, color: !g.json && !g.noColor && colorAllowed(w)}
}

// colorAllowed reports whether w is a terminal and NO_COLOR is not set.
func colorAllowed(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const (
	cReset = "\x1b[0m"
	cDim   = "\x1b[2m"
	cBold  = "\x1b[1m"
	cRed   = "\x1b[31m"
	cGreen = "\x1b[32m"
	cCyan  = "\x1b[36m"
	cYell  = "\x1b[33m"
)

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + cReset
}

// line is one printed record. Data is JSON (an application event) or bytes
// (raw mode, Raw set); Text is a note (an error, a lifecycle event).
type line struct {
	Time   time.Time       `json:"time"`
	Dir    string          `json:"dir,omitempty"`
	Peer   string          `json:"peer,omitempty"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"-"` // written as received, see jsonLine
	Hex    string          `json:"hex,omitempty"`
	Bytes  *int            `json:"bytes,omitempty"`
	Text   string          `json:"text,omitempty"`
	Code   string          `json:"code,omitempty"`
	Millis *float64        `json:"ms,omitempty"`
	raw    []byte
	kind   int
}

const (
	kindEvent = iota // an application event
	kindNote         // lifecycle: listening, connect, disconnect
	kindError        // an error
	kindRaw          // raw bytes
)

func (p *printer) print(l line) {
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	if l.kind == kindRaw {
		n := len(l.raw)
		l.Bytes = &n
		l.Hex = hex.EncodeToString(l.raw)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.w.Write(jsonLine(l))
		return
	}
	var b strings.Builder
	b.WriteString(p.paint(cDim, l.Time.Format("15:04:05.000")))
	if l.Millis != nil {
		b.WriteString(p.paint(cDim, fmt.Sprintf(" %+9.3fms", *l.Millis)))
	}
	if l.Dir != "" {
		b.WriteString(" " + p.paint(cBold, l.Dir))
	}
	if l.Peer != "" {
		b.WriteString(" " + p.paint(cDim, l.Peer))
	}
	switch l.kind {
	case kindEvent:
		b.WriteString(" " + p.paint(cCyan, l.Event))
		if len(l.Data) > 0 {
			b.WriteString(" " + string(l.Data))
		}
	case kindRaw:
		b.WriteString(" " + p.paint(cCyan, l.Event) + fmt.Sprintf(" %d bytes %s", len(l.raw), l.Hex))
		if utf8.Valid(l.raw) && printable(l.raw) {
			b.WriteString(" " + p.paint(cDim, fmt.Sprintf("%q", l.raw)))
		}
	case kindNote:
		b.WriteString(" " + p.paint(cGreen, l.Event))
		if l.Text != "" {
			b.WriteString(" " + l.Text)
		}
	case kindError:
		b.WriteString(" " + p.paint(cRed, l.Event))
		if l.Code != "" {
			b.WriteString(" " + p.paint(cYell, l.Code))
		}
		if l.Text != "" {
			b.WriteString(" " + l.Text)
		}
		if len(l.Data) > 0 {
			b.WriteString(" " + string(l.Data))
		}
	}
	b.WriteByte('\n')
	io.WriteString(p.w, b.String())
}

func printable(b []byte) bool {
	for _, c := range string(b) {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func (p *printer) event(peer, event string, data json.RawMessage) {
	p.print(line{Peer: peer, Event: event, Data: data, kind: kindEvent})
}

func (p *printer) rawData(peer string, b []byte) {
	p.print(line{Peer: peer, Event: "data", raw: b, kind: kindRaw})
}

func (p *printer) note(peer, event, text string) {
	p.print(line{Peer: peer, Event: event, Text: text, kind: kindNote})
}

func (p *printer) err(peer string, err error) {
	l := line{Peer: peer, Event: "error", Text: err.Error(), kind: kindError}
	if code := errCode(err); code != "" {
		l.Code = code
	}
	p.print(l)
}

// jsonLine renders l as one JSON line. Data goes out byte for byte as
// received (encoding/json would escape <, >, & and U+2028 in it).
func jsonLine(l line) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l)
	out := bytes.TrimRight(b.Bytes(), "\n")
	if len(l.Data) > 0 && json.Valid(l.Data) {
		out = append(out[:len(out)-1], `,"data":`...)
		out = append(out, l.Data...)
		out = append(out, '}')
	}
	return append(out, '\n')
}
