package nodeipc_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/effeeea0/nodeipc"
)

// BenchmarkRoundTrip measures echo round trips in one process with
// node-ipc's method: a 64-byte payload (101-byte frames), 64 requests in
// flight (1 for latency).
func BenchmarkRoundTrip(b *testing.B) {
	for _, network := range transports {
		for _, inflight := range []int{64, 1} {
			b.Run(fmt.Sprintf("%s/inflight=%d", network, inflight), func(b *testing.B) {
				benchRoundTrip(b, network, inflight)
			})
		}
	}
}

func benchRoundTrip(b *testing.B, network string, inflight int) {
	srv, addr := startServer(b, network, nil, func(s *nodeipc.Server) {
		s.On("benchmark.frame", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "benchmark.frame", m.Data) })
	})
	_ = srv
	payload := json.RawMessage(`"` + strings.Repeat("a", 64) + `"`)
	var received atomic.Int64
	total := int64(b.N)
	done := make(chan struct{})
	var c *nodeipc.Client
	c, connected := startClient(b, network, addr, nil, func(cl *nodeipc.Client) {
		cl.On("benchmark.frame", func(m *nodeipc.Message) {
			n := received.Add(1)
			if n == total {
				close(done)
				return
			}
			if n+int64(inflight)-1 < total {
				_ = c.Emit("benchmark.frame", payload)
			}
		})
	})
	recv(b, connected, "connect")
	b.ReportAllocs()
	b.ResetTimer()
	for range min(int64(inflight), total) {
		if err := c.Emit("benchmark.frame", payload); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rtt/s")
}
