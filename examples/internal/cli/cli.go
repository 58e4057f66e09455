// Package cli runs the examples' main functions the same way: it checks
// -role, gives the example a context that Ctrl-C cancels, and turns an error
// into a message on stderr and exit status 1.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
)

// Main runs f, the example called name in the given -role, with a context
// that Ctrl-C cancels, so that a server (or anything else) ends cleanly. A
// role that is not one of roles is an error. On an error Main prints
// "name: error" on stderr and exits with status 1.
func Main(name, role string, roles []string, f func(ctx context.Context) error) {
	if err := run(role, roles, f); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func run(role string, roles []string, f func(ctx context.Context) error) error {
	if !slices.Contains(roles, role) {
		last := len(roles) - 1
		return fmt.Errorf("unknown -role %q: want %s or %s", role, strings.Join(roles[:last], ", "), roles[last])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return f(ctx)
}
