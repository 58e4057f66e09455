package nodeipc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
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

// TestReadOfManyFramesAnsweredInTwoWrites: a read that brings 64 frames has
// the replies its handlers emit written every 32 frames, so that the peer
// starts on the first half while the second is dispatched, yet in few
// writes: two, not one per frame (or per 16 frames). It counts the write
// system calls of the process for each round (the raw client's one write of
// 64 frames, and the server's), and takes the median round, since a round
// now and then can take longer than the hold allows (a slow handler under
// the race detector) and be written in more.
func TestReadOfManyFramesAnsweredInTwoWrites(t *testing.T) {
	if writeCalls() < 0 {
		t.Skip("no /proc/self/io here")
	}
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			_, addr := startServer(t, transport, nil, func(s *nodeipc.Server) {
				s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
			})
			conn := dialRaw(t, transport, addr)
			defer conn.Close()
			const frames, rounds = 64, 31
			var batch []byte
			for i := range frames {
				batch = fmt.Appendf(batch, `{"type":"ping","data":{"seq":%d,"payload":"%s"}}`+"\f", i, strings.Repeat("x", 64))
			}
			buf := make([]byte, 64<<10)
			round := func() int {
				before := writeCalls()
				if _, err := conn.Write(batch); err != nil {
					t.Fatal(err)
				}
				if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					t.Fatal(err)
				}
				for got := 0; got < frames; {
					n, err := conn.Read(buf)
					if err != nil {
						t.Fatalf("after %d replies: %v", got, err)
					}
					got += bytes.Count(buf[:n], []byte("\f"))
				}
				return writeCalls() - before
			}
			round() // warm up
			writes := make([]int, rounds)
			for i := range writes {
				writes[i] = round()
			}
			slices.Sort(writes)
			t.Logf("write calls per round (the client's one and the server's), sorted: %v", writes)
			if median := writes[rounds/2]; median > 3 {
				t.Fatalf("a read of %d frames took %d write calls at the median (the client's 1 and the server's %d); want the server's replies in 2", frames, median, median-1)
			}
		})
	}
}
