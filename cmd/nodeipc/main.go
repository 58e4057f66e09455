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
// Exit codes: 0 success, 1 failure (unreachable endpoint, a frame not sent),
// 2 usage error, 3 timeout (no reply), 130 interrupted (Ctrl-C), 143
// terminated (SIGTERM).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
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
	exitInterrupted = 130 // 128 + SIGINT
	exitTerminated  = 143 // 128 + SIGTERM
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

// signalled is the cause of a command's context when a signal stopped it.
type signalled struct{ sig os.Signal }

func (s *signalled) Error() string { return "received " + s.sig.String() }

// stopped is the error of a command ended by a signal: exit code 130 for
// Ctrl-C (SIGINT), 143 for SIGTERM. The clean-up is the same for both.
func stopped(ctx context.Context) error {
	var s *signalled
	if errors.As(context.Cause(ctx), &s) && s.sig == syscall.SIGTERM {
		return &exitError{exitTerminated, errors.New("terminated")}
	}
	return &exitError{exitInterrupted, errors.New("interrupted")}
}

// bySignal reports whether err is the error of a command stopped by a
// signal.
func bySignal(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && (ee.code == exitInterrupted || ee.code == exitTerminated)
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// A second signal ends the process at once, without clean-up.
		signal.Stop(sigs)
		cancel(&signalled{s})
	}()
	code := run(ctx, os.Args[1:])
	signal.Stop(sigs)
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
	fmt.Fprintln(os.Stderr, "nodeipc:", oneLine(describe(err)))
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

Exit codes: 0 success, 1 failure (unreachable endpoint, a frame not sent), 2 usage
error, 3 timeout (no reply), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
Colour is used on a terminal unless --no-color, NO_COLOR or TERM=dumb.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuild().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print one JSON object per line instead of text")
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output (also when NO_COLOR is set or TERM=dumb)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%w", err) })
	root.AddCommand(newServe(g), newConnect(g), newEmit(g), newProxy(g), newBench(g), newDemo(g), newVersion(g))
	return root
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the source revision and the Go version it was built with",
		Long: `Print what the binary knows of itself: its module version (a release tag, or a
pseudo-version when built from a checkout), the source revision and its time, whether
the checkout had uncommitted changes, the Go version, and the platform. A binary built
with -buildvcs=false or outside a repository has no revision; what is unknown is left
out.`,
		Example: `  nodeipc version
  nodeipc version --json`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuild()
			if g.json {
				out, _ := json.Marshal(b)
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), b.String())
			return nil
		},
	}
}

// build is what the binary knows of its origin.
type build struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified *bool  `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuild reads the build information Go embeds in the binary. A version
// set with -ldflags "-X main.version=..." wins over the module version.
func readBuild() build {
	b := build{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "devel" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if info.GoVersion != "" {
		b.Go = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			m := s.Value == "true"
			b.Modified = &m
		}
	}
	return b
}

// String is the text of nodeipc version: one line.
func (b build) String() string {
	s := "nodeipc " + b.Version
	if b.Revision != "" {
		s += ", revision " + b.Revision
		if b.Time != "" {
			s += " of " + b.Time
		}
		if b.Modified != nil && *b.Modified {
			s += " with uncommitted changes"
		}
	} else {
		s += ", source revision unknown"
	}
	return s + ", " + b.Go + " " + b.Platform
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
