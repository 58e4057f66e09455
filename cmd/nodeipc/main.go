// Command nodeipc serves, connects to, watches and measures node-ipc
// endpoints: Unix sockets (named pipes on Windows), TCP, TLS and UDP.
//
//	nodeipc demo                               # a server and two clients, events both ways
//	nodeipc serve world --echo                 # a server that prints and echoes every event
//	nodeipc emit world 'message={"hello":1}' --wait message
//	nodeipc connect --tcp 127.0.0.1:8000       # JSON lines in, events out
//	nodeipc proxy --listen tcp:127.0.0.1:9000 --to tcp:127.0.0.1:8000
//	nodeipc bench                              # node-ipc's method against a server it starts
//
// Exit codes: 0 success, 1 failure (unreachable endpoint, refused frame),
// 2 usage error, 3 timeout (no reply), 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitTimeout     = 3
	exitInterrupted = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

// exitError carries an exit code with its one-line reason.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

func failure(format string, args ...any) error {
	return &exitError{exitFailure, fmt.Errorf(format, args...)}
}

var errInterrupted = &exitError{exitInterrupted, errors.New("interrupted")}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// One line, always: cobra's suggestions come on several.
	fmt.Fprintln(os.Stderr, "nodeipc:", oneLine(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors cobra raises itself (unknown command, bad arguments) are usage
	// errors.
	return exitUsage
}

// globals are the flags every subcommand has.
type globals struct {
	json    bool
	noColor bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "nodeipc",
		Short: "Serve, connect to, watch and measure node-ipc endpoints",
		Long: `nodeipc speaks node-ipc's protocol (versions 9, 10/12 and 14) over Unix sockets
(named pipes on Windows), TCP, TLS and UDP. Use it to try nodeipc, to talk to and
watch the node-ipc applications you already run, and to measure them.

Endpoints: a local id (world: the socket SocketRoot + AppSpace + id, as node-ipc
names it), a socket path (/run/app.sock), or --tcp, --tls, --udp4, --udp6 with
HOST:PORT (HOST defaults to 127.0.0.1).

Exit codes: 0 success, 1 failure, 2 usage error, 3 timeout, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print one JSON object per line instead of text")
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output (also when NO_COLOR is set)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	root.AddCommand(newServe(g), newConnect(g), newEmit(g), newProxy(g), newBench(g), newDemo(g), newVersion())
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "nodeipc", version)
			return nil
		},
	}
}

// argsBetween accepts lo to hi positional arguments; others are a usage
// error.
func argsBetween(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			if lo == hi {
				return usageErr("%s takes %d argument(s), got %d (see --help)", cmd.Name(), lo, len(args))
			}
			return usageErr("%s takes %d to %d arguments, got %d (see --help)", cmd.Name(), lo, hi, len(args))
		}
		return nil
	}
}

// oneLine joins the non-empty lines of s.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
