package nodeipc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// writeCalls returns how many write system calls the process has made so
// far (/proc/self/io), or -1 where that cannot be read.
func writeCalls() int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// TestRequestsFromManyGoroutinesShareWrites: goroutines that each send their
// next request as soon as the reply to the last one comes have those
// requests held with the batch of replies that woke them, and written
// together, rather than each in a write of its own. It counts the write
// system calls of the process (both peers are in it): one a request would
// be more than 1 per round trip, with the server's writes; shared writes
// stay well under that.
func TestRequestsFromManyGoroutinesShareWrites(t *testing.T) {
	if writeCalls() < 0 {
		t.Skip("no /proc/self/io here")
	}
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			_, c, _ := requestPair(t, transport, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const goroutines, each = 32, 400
			run := func() {
				var wg sync.WaitGroup
				errs := make(chan error, goroutines)
				for g := range goroutines {
					wg.Go(func() {
						for i := range each {
							m, err := c.Request(ctx, "sum", map[string]int{"a": g, "b": i})
							if err == nil {
								var n int
								if err = m.Decode(&n); err == nil && n != g+i {
									err = fmt.Errorf("%d+%d gave %d", g, i, n)
								}
							}
							if err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("request: %v", err)
				}
			}
			run() // warm up
			before := writeCalls()
			run()
			writes := writeCalls() - before
			perRequest := float64(writes) / (goroutines * each)
			t.Logf("%d write calls for %d round trips (%.2f each)", writes, goroutines*each, perRequest)
			if perRequest > 0.6 {
				t.Fatalf("%d write calls for %d round trips (%.2f each): requests went out one write each", writes, goroutines*each, perRequest)
			}
		})
	}
}
