// Package acklog is the durable record of the test receivers of
// acknowledged delivery: one line "session seq data" per delivered message,
// appended with one write, read back after a restart to answer
// Config.AckDelivered.
package acklog

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/effeeea0/nodeipc"
)

// Log is an open record.
type Log struct{ f *os.File }

// Open opens the record at path, creating it, and returns it with the last
// sequence number recorded for each session. A kill can cut a write short
// (the kernel checks for a fatal signal between pages): a torn last record
// is dropped, as a durable receiver must, so that its message, not
// delivered after all, comes again.
func Open(path string) (*Log, map[string]uint64, error) {
	delivered := map[string]uint64{}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
		if err := os.Truncate(path, int64(i+1)); err != nil {
			return nil, nil, err
		}
		b = b[:i+1]
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			delivered[f[0]] = max(delivered[f[0]], n)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return &Log{f: f}, delivered, nil
}

// Record appends one delivered message, in one write: the message's effect
// and its number together.
func (l *Log) Record(session string, seq uint64, data []byte) error {
	_, err := fmt.Fprintf(l.f, "%s %d %s\n", session, seq, data)
	return err
}

// Server returns a server with acknowledged delivery on network and address
// that records each message of event in the record at logPath (its data as
// value returns it) before deliver is called; a durable one answers
// AckDelivered from that record, so that a restart delivers nothing twice.
// A failed record ends the process: the receiver must not acknowledge what
// it did not keep.
func Server(durable bool, network, address, logPath, event string, value func(*nodeipc.Message) ([]byte, error), deliver func()) (*nodeipc.Server, error) {
	log, delivered, err := Open(logPath)
	if err != nil {
		return nil, err
	}
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.Acks = true
	if durable {
		cfg.AckDelivered = func(session string) (uint64, bool) {
			n, ok := delivered[session]
			return n, ok
		}
	}
	srv, err := nodeipc.NewServer(network, address, &cfg)
	if err != nil {
		return nil, err
	}
	srv.On(event, func(m *nodeipc.Message) {
		v, err := value(m)
		if err == nil {
			// The record and the effect are one write (a torn one is
			// dropped at the next start).
			err = log.Record(m.Session, m.Seq, v)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "message", m.Seq, "of", m.Session+":", err)
			os.Exit(1)
		}
		if deliver != nil {
			deliver()
		}
	})
	return srv, nil
}
