package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/effeeea0/nodeipc"
)

// libraryWords turns the Go names in the library's messages into the flags
// that set them, so that an error speaks the words of the command line.
var libraryWords = strings.NewReplacer(
	"nodeipc: ", "",
	"(Private and Public, Key and Cert, or Config.Certificates)", "(--key and --cert)",
	"(Private and Public, or Key and Cert)", "(--key and --cert)",
	"(RequestCert and RejectUnauthorized)", "(--ca)",
	"Config.TLS", "--tls",
	"AllowedEvents", "--allow",
	"MaxMessageSize", "--max-message",
	"MaxReadBuffer", "--max-message",
	"MaxPendingBytes", "--max-pending",
	"MaxOutboxBytes", "--max-pending",
	"Delimiter", "--delimiter",
	"Parser", "--parser",
	"SocketRoot", "--socket-root",
)

// describe is err in the words of the command line: without the library's
// "nodeipc: " prefixes, with flags for the Go names of settings, and for a
// limit that refused a frame, the flag that raises it.
func describe(err error) string {
	msg := libraryWords.Replace(err.Error())
	if flag := limitFlag(err); flag != "" {
		msg += "; raise the limit with " + flag + " SIZE"
	}
	return msg
}

// describeNoCode is describe without the protocol error code, for lines that
// print the code in a field of its own.
func describeNoCode(err error) string {
	msg := describe(err)
	if code := errCode(err); code != "" {
		msg = strings.Replace(msg, string(code)+": ", "", 1)
	}
	return msg
}

// limitFlag names the flag that raises the limit err reports, or "".
func limitFlag(err error) string {
	if errors.Is(err, nodeipc.ErrOutboxFull) {
		return "--max-pending"
	}
	switch errCode(err) {
	case nodeipc.CodeFrameTooLarge:
		return "--max-message"
	case nodeipc.CodeBackpressure:
		return "--max-pending"
	}
	return ""
}

func errCode(err error) nodeipc.Code {
	var pe *nodeipc.ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// peerGone reports whether err only says that the other side closed or went
// away: the end of a conversation, not a fault to report.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, nodeipc.ErrUnknownSocket) ||
		connReset(err)
}

// unsentError reports frames that were accepted from the user but never
// written to the peer.
func unsentError(frames int, why string) error {
	return failure("%s not sent: %s", plural(frames, "frame"), why)
}

// plural formats n things.
func plural(n int, thing string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
