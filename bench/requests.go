package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
)

// reqEvent is the event the request lanes' requests name.
const reqEvent = "bench"

// requestStall ends a request pass that has had no reply this long: a peer
// that does not answer (one that speaks another version of the request
// frames, say) fails the lane instead of holding it until passTimeout.
const requestStall = 10 * time.Second

// goRequestClient keeps o.Inflight requests in flight as a program would:
// o.Inflight goroutines, each calling Request with a Req and decoding the
// reply into a Req, whose sequence number must be the request's.
func goRequestClient(o peerOpts) error {
	cfg := o.config()
	c, err := nodeipc.NewClient("bench", o.Transport, o.address(), &cfg)
	if err != nil {
		return err
	}
	connected := make(chan struct{})
	var once sync.Once
	c.On("connect", func(*nodeipc.Message) { once.Do(func() { close(connected) }) })
	c.Connect()
	select {
	case <-connected:
	case <-c.Done():
		return fmt.Errorf("could not connect to %s", o.address())
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var mu sync.Mutex // st and next
	st := newStats(o)
	next := 0
	st.begin()
	var wg sync.WaitGroup
	for range o.Inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= st.total {
					mu.Unlock()
					return
				}
				seq := next
				next++
				st.stamp(seq)
				mu.Unlock()
				m, err := c.Request(ctx, reqEvent, Req{Seq: int64(seq), Payload: reqPayload})
				if err != nil {
					cancel(fmt.Errorf("request %d: %w", seq, err))
					return
				}
				var r Req
				if err := m.Decode(&r); err != nil {
					cancel(fmt.Errorf("reply to request %d, %q: %w", seq, m.Data, err))
					return
				}
				if r.Seq != int64(seq) {
					cancel(fmt.Errorf("the reply to request %d carries %d", seq, r.Seq))
					return
				}
				mu.Lock()
				st.got(seq)
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		// A throughput pass does not time each reply: the watch counts the
		// requests ended instead.
		ended, since := -1, time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				mu.Lock()
				n := st.resolved
				mu.Unlock()
				if n != ended {
					ended, since = n, now
				}
				if quiet := now.Sub(since); quiet > requestStall {
					cancel(fmt.Errorf("no reply from %s for %v", o.address(), quiet.Round(time.Second)))
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := context.Cause(ctx); err != nil {
		_ = c.Close(context.Background())
		return err
	}
	if !st.complete() {
		_ = c.Close(context.Background())
		return errors.New("the requests ended before the pass did")
	}
	st.print()
	return c.Close(context.Background())
}
