//go:build windows

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// connReset reports an error that says the peer reset or closed the
// connection, or closed its end of the pipe.
func connReset(err error) bool {
	for _, e := range []error{windows.WSAECONNRESET, windows.WSAECONNABORTED, windows.ERROR_BROKEN_PIPE,
		windows.ERROR_NO_DATA, windows.ERROR_PIPE_NOT_CONNECTED, windows.ERROR_NETNAME_DELETED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isTerminal reports whether f is a console.
func isTerminal(f *os.File) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}

// endOfInput is the key that ends input typed on a console.
const endOfInput = "Ctrl-Z and Enter"
