package nodeipc

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchReq is the benchmark's typical request: a struct as a program sends
// it, 101-byte frames with a six-digit sequence number.
type benchReq struct {
	Seq     int64  `json:"seq"`
	Payload string `json:"payload"`
}

var benchPayload = strings.Repeat("a", 39)

// BenchmarkEmitStruct is the encoding a typical Emit does: a struct into a
// frame.
func BenchmarkEmitStruct(b *testing.B) {
	r := fastRules(b)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	seq := int64(100000)
	for b.Loop() {
		seq++
		buf, _ = r.encodeFrame(buf[:0], "benchmark.frame", benchReq{Seq: seq, Payload: benchPayload})
	}
}

// BenchmarkEmitReceived is the encoding of an echo: the data of a received
// message emitted again.
func BenchmarkEmitReceived(b *testing.B) {
	r := fastRules(b)
	data, _ := json.Marshal(benchReq{Seq: 123456, Payload: benchPayload})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = r.encodeFrame(buf[:0], "benchmark.frame", json.RawMessage(data))
	}
}

// BenchmarkDecodeStruct is a typical handler's Message.Decode into a
// struct.
func BenchmarkDecodeStruct(b *testing.B) {
	data, _ := json.Marshal(benchReq{Seq: 123456, Payload: benchPayload})
	m := &Message{Type: "benchmark.frame", Data: data}
	b.ReportAllocs()
	for b.Loop() {
		var r benchReq
		if err := m.Decode(&r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStructStd is BenchmarkDecodeStruct through encoding/json,
// for comparison.
func BenchmarkDecodeStructStd(b *testing.B) {
	data, _ := json.Marshal(benchReq{Seq: 123456, Payload: benchPayload})
	b.ReportAllocs()
	for b.Loop() {
		var r benchReq
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}
