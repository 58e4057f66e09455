// Package leakcheck fails a test binary whose tests leave a goroutine of the
// library running.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Run runs the tests and, when they pass, waits up to 5 s for every
// goroutine running library code to end. It returns the exit code for
// os.Exit: 1 with the stacks on stderr when some are left behind.
func Run(m *testing.M) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	if leaked := wait(5 * time.Second); leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
		return 1
	}
	return 0
}

// wait waits until no goroutine runs library code, and returns the stacks
// of those that still do after timeout.
func wait(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := libraryGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// libraryGoroutines returns the stacks of the goroutines in the library's
// own code (package nodeipc, not its tests).
func libraryGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/effeeea0/nodeipc.") && !strings.Contains(g, "_test.") &&
			!strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
