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
// on a terminal unless --no-color, NO_COLOR or TERM=dumb) or as JSON lines
// (--json). The layout of a text line (padding, arrows, words) is made here
// from the line's values; a JSON line carries the values only.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	color bool
}

func newPrinter(g *globals, w io.Writer) *printer {
	return &printer{w: w, json: g.json, color: !g.json && !g.noColor && colorAllowed(w)}
}

// colorAllowed reports whether w is a terminal that takes colour: not when
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func colorAllowed(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
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

// Directions of a proxied frame.
const (
	toServer = "client-to-server"
	toClient = "server-to-client"
)

// line is one printed record. Every exported field is a value; the text
// layout is made in print. Data is JSON (an application event); raw holds
// the bytes of a raw-mode chunk.
type line struct {
	Time      time.Time       `json:"time"`
	Millis    *float64        `json:"ms,omitempty"`        // proxy: since the connection opened
	At        string          `json:"at,omitempty"`        // demo: the endpoint that saw it
	Direction string          `json:"direction,omitempty"` // proxy: toServer or toClient
	Peer      string          `json:"peer,omitempty"`      // the other side
	Conn      int64           `json:"conn,omitempty"`      // proxy: the connection's number
	Event     string          `json:"event"`
	Endpoint  string          `json:"endpoint,omitempty"` // listening, waiting, connect: NETWORK:ADDRESS
	To        string          `json:"to,omitempty"`       // proxy: where connections go
	Code      string          `json:"code,omitempty"`
	Text      string          `json:"text,omitempty"`
	Bytes     *int            `json:"bytes,omitempty"`
	Hex       string          `json:"hex,omitempty"`
	Data      json.RawMessage `json:"-"` // written as received, see jsonLine
	human     string          // text mode: a note's words in place of its event and fields; what follows an error's code
	raw       []byte
	kind      int
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
	io.WriteString(p.w, p.text(l))
}

// text lays l out as a line of text.
func (p *printer) text(l line) string {
	var b strings.Builder
	b.WriteString(p.paint(cDim, l.Time.Format("15:04:05.000")))
	if l.Millis != nil {
		b.WriteString(p.paint(cDim, fmt.Sprintf(" %+9.3fms", *l.Millis)))
	}
	switch l.Direction {
	case toServer:
		b.WriteString(" " + p.paint(cBold, "->"))
	case toClient:
		b.WriteString(" " + p.paint(cBold, "<-"))
	}
	peer := l.Peer
	if l.Conn > 0 {
		peer = fmt.Sprintf("%s#%d", peer, l.Conn)
	}
	// The demo's lines say who saw what: "alice  <- server welcome".
	var after []string
	switch {
	case l.At != "" && l.kind == kindEvent && peer != "":
		b.WriteString(" " + p.paint(cBold, fmt.Sprintf("%-6s <- %-6s", l.At, peer)))
	case l.At != "":
		b.WriteString(" " + p.paint(cBold, fmt.Sprintf("%-6s   ", l.At)))
		if peer != "" {
			after = append(after, peer)
		}
	case peer != "":
		b.WriteString(" " + p.paint(cDim, peer))
	}
	colour := map[int]string{kindEvent: cCyan, kindRaw: cCyan, kindNote: cGreen, kindError: cRed}[l.kind]
	if l.kind == kindNote && l.human != "" {
		b.WriteString(" " + p.paint(colour, l.human) + "\n")
		return b.String()
	}
	b.WriteString(" " + p.paint(colour, l.Event))
	if l.Code != "" {
		b.WriteString(" " + p.paint(cYell, l.Code))
	}
	if l.human != "" {
		after = append(after, l.human)
	} else {
		if l.Endpoint != "" {
			after = append(after, l.Endpoint)
		}
		if l.To != "" {
			after = append(after, "-> "+l.To)
		}
		if l.Text != "" {
			after = append(after, l.Text)
		}
		if l.kind == kindRaw {
			after = append(after, fmt.Sprintf("%d bytes %s", len(l.raw), l.Hex))
			if utf8.Valid(l.raw) && printable(l.raw) {
				after = append(after, p.paint(cDim, fmt.Sprintf("%q", l.raw)))
			}
		}
		if len(l.Data) > 0 {
			after = append(after, string(l.Data))
		}
	}
	for _, a := range after {
		b.WriteString(" " + a)
	}
	b.WriteByte('\n')
	return b.String()
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

// err prints an error that does not end the command (those go to stderr
// only, once).
func (p *printer) err(peer string, err error) {
	p.print(line{Peer: peer, Event: "error", Code: string(errCode(err)), Text: describeNoCode(err), kind: kindError})
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
