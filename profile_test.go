package nodeipc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

func guardedConfig() *nodeipc.Config {
	c := testConfig()
	c.Parser = nodeipc.ParserGuarded
	return c
}

// expectCode sends raw bytes to a server of cfg and checks the error code it
// publishes and that it closes that connection.
func expectCode(t *testing.T, cfg *nodeipc.Config, send []string, code nodeipc.Code) {
	t.Helper()
	errs := make(chan error, 4)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	})
	raw := dialRaw(t, "tcp", addr)
	defer raw.Close()
	for _, b := range send {
		if _, err := io.WriteString(raw, b); err != nil {
			break
		}
	}
	err := recv(t, errs, string(code))
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(raw); err != nil {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestGuardedRefusesFramesOverMaxMessageSize(t *testing.T) {
	cfg := guardedConfig()
	cfg.MaxMessageSize = 100
	t.Run("complete frame", func(t *testing.T) {
		expectCode(t, cfg, []string{`{"type":"a","data":"` + strings.Repeat("x", 100) + `"}` + "\f"}, nodeipc.CodeFrameTooLarge)
	})
	t.Run("unfinished frame", func(t *testing.T) {
		expectCode(t, cfg, []string{`{"type":"a","data":"` + strings.Repeat("x", 200)}, nodeipc.CodeFrameTooLarge)
	})
	t.Run("exactly the limit is accepted", func(t *testing.T) {
		got := make(chan string, 1)
		_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
			s.On("a", func(m *nodeipc.Message) { got <- string(m.Data) })
		})
		frame := `{"type":"a","data":"` + strings.Repeat("x", 100-22) + `"}`
		if len(frame) != 100 {
			t.Fatalf("test frame is %d bytes", len(frame))
		}
		raw := dialRaw(t, "tcp", addr)
		defer raw.Close()
		_, _ = io.WriteString(raw, frame+"\f")
		recv(t, got, "frame of exactly MaxMessageSize")
	})
}

func TestGuardedEventNameLength(t *testing.T) {
	cfg := guardedConfig()
	cfg.MaxEventNameLength = 8
	expectCode(t, cfg, []string{`{"type":"123456789"}` + "\f"}, nodeipc.CodeEventTooLarge)
}

func TestGuardedAllowReservedEventsDeliversThem(t *testing.T) {
	cfg := guardedConfig()
	cfg.AllowReservedEvents = true
	got := make(chan *nodeipc.Message, 1)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { got <- m })
	})
	raw := dialRaw(t, "tcp", addr)
	defer raw.Close()
	_, _ = io.WriteString(raw, `{"type":"error","data":"from the peer"}`+"\f")
	m := recv(t, got, "peer error event")
	if m.Err != nil || string(m.Data) != `"from the peer"` {
		t.Fatalf("got err %v data %s", m.Err, m.Data)
	}
}

func TestGuardedMessageTimeoutCutsSlowloris(t *testing.T) {
	cfg := guardedConfig()
	cfg.MessageTimeout = 200 * time.Millisecond
	expectCode(t, cfg, []string{`{"type":"a",`}, nodeipc.CodeMessageTimeout)
}

// node-ipc 14's timer is not restarted as frames complete, so a steady
// stream whose reads rarely end on a frame boundary is killed (reference §8:
// 37-byte frames in 35-byte writes every 20 ms, 300 ms timeout, killed after
// 15 messages). nodeipc's timer restarts whenever a frame completes.
func TestGuardedMessageTimeoutIsFairToSteadyStreams(t *testing.T) {
	cfg := guardedConfig()
	cfg.MessageTimeout = 300 * time.Millisecond
	got := make(chan string, 64)
	errs := make(chan error, 1)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("tick", func(m *nodeipc.Message) { got <- string(m.Data) })
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	})
	var stream bytes.Buffer
	const n = 40
	for i := range n {
		fmt.Fprintf(&stream, `{"type":"tick","data":"%020d"}`+"\f", i)
	}
	raw := dialRaw(t, "tcp", addr)
	defer raw.Close()
	b := stream.Bytes()
	for off := 0; off < len(b); off += 35 {
		if _, err := raw.Write(b[off:min(off+35, len(b))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range n {
		select {
		case v := <-got:
			if v != fmt.Sprintf(`"%020d"`, i) {
				t.Fatalf("got %s at %d", v, i)
			}
		case err := <-errs:
			t.Fatalf("stream killed after %d messages: %v", i, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out at %d", i)
		}
	}
}

func TestGuardedSendSideViolationsReturnFromEmit(t *testing.T) {
	cfg := guardedConfig()
	cfg.MaxMessageSize = 64
	c, err := nodeipc.NewClient("x", "tcp", "127.0.0.1:1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	for _, tc := range []struct {
		event string
		data  any
		code  nodeipc.Code
	}{
		{"error", 1, nodeipc.CodeReservedEvent},
		{"toString", 1, nodeipc.CodeInvalidEvent},
		{strings.Repeat("e", 300), 1, nodeipc.CodeEventTooLarge},
		{"big", strings.Repeat("x", 100), nodeipc.CodeFrameTooLarge},
	} {
		err := c.Emit(tc.event, tc.data)
		var pe *nodeipc.ProtocolError
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("emit %.20s: got %v, want %s", tc.event, err, tc.code)
		}
	}
}

func TestGuardedBackpressureClosesTheConnection(t *testing.T) {
	cfg := guardedConfig()
	cfg.MaxPendingBytes = 32 << 10
	connected := make(chan *nodeipc.Socket, 1)
	closed := make(chan struct{}, 1)
	srv, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { connected <- m.Socket })
		s.On("close", func(*nodeipc.Message) { closed <- struct{}{} })
	})
	raw := dialRaw(t, "tcp", addr) // never reads
	defer raw.Close()
	sock := recv(t, connected, "connect")
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = srv.Emit(sock, "flood", strings.Repeat("x", 4000))
	}
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeBackpressure {
		t.Fatalf("got %v", err)
	}
	recv(t, closed, "close after backpressure")
}

func TestAssuredNeedsAnAllowList(t *testing.T) {
	cfg := testConfig()
	cfg.Parser = nodeipc.ParserAssured
	if _, err := nodeipc.NewServer("unix", testAddress(t, "unix"), cfg); err == nil {
		t.Fatal("assured without AllowedEvents accepted")
	}
}

func TestAssuredRefusesPlainNetworkTransports(t *testing.T) {
	cfg := testConfig()
	cfg.Parser = nodeipc.ParserAssured
	cfg.AllowedEvents = []string{"a"}
	for _, network := range []string{"tcp", "udp4"} {
		_, err := nodeipc.NewServer(network, "127.0.0.1:0", cfg)
		var pe *nodeipc.ProtocolError
		if !errors.As(err, &pe) || pe.Code != nodeipc.CodeAssuredTransport {
			t.Errorf("%s server: got %v", network, err)
		}
	}
	_, err := nodeipc.NewClient("x", "tcp", "127.0.0.1:1", cfg)
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeAssuredTransport {
		t.Errorf("tcp client: got %v", err)
	}
}

func TestAssuredUnlistedEventIsRefusedWithoutEchoingItsName(t *testing.T) {
	if testAddress(t, "unix") == "" {
		t.Skip()
	}
	cfg := testConfig()
	cfg.Parser = nodeipc.ParserAssured
	cfg.AllowedEvents = []string{"allowed"}
	cfg.SocketRoot = tempRoot(t)
	errs := make(chan error, 2)
	got := make(chan string, 2)
	srv, err := nodeipc.NewServer("unix", cfg.SocketRoot+"app.assured", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	srv.On("allowed", func(m *nodeipc.Message) { got <- string(m.Data) })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	c, connected := startClient(t, "unix", srv.Path(), cfg, nil)
	recv(t, connected, "connect")
	if err := c.Emit("allowed", 1); err != nil {
		t.Fatal(err)
	}
	recv(t, got, "allowed event")
	if err := c.Emit("secret-name", 1); err == nil || strings.Contains(err.Error(), "secret-name") {
		t.Fatalf("client emit of an unlisted event: %v", err)
	}
	raw := dialRaw(t, "unix", srv.Path())
	defer raw.Close()
	_, _ = io.WriteString(raw, `{"type":"secret-name","data":1}`+"\f")
	err = recv(t, errs, "refusal")
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeEventNotAllowed || strings.Contains(err.Error(), "secret-name") {
		t.Fatalf("got %v", err)
	}
}

// lineCodec is a custom codec: one JSON object per line, {"e":..,"d":..}.
type lineCodec struct{}

func (lineCodec) Encode(event string, data any) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"e": event, "d": data})
	return append(b, '\n'), err
}

func (lineCodec) Read(rest, chunk []byte, receive func(string, json.RawMessage)) ([]byte, error) {
	buf := append(rest, chunk...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return buf, nil
		}
		var v struct {
			E string
			D json.RawMessage
		}
		if err := json.Unmarshal(buf[:i], &v); err != nil {
			return nil, &nodeipc.ProtocolError{Code: nodeipc.CodeInvalidJSON, Message: "bad line"}
		}
		if v.E == "panic" {
			panic("codec bug")
		}
		receive(v.E, v.D)
		buf = buf[i+1:]
	}
}

func TestCustomCodec(t *testing.T) {
	cfg := testConfig()
	cfg.Codec = lineCodec{}
	errs := make(chan error, 2)
	_, addr := startServer(t, "tcp", cfg, func(s *nodeipc.Server) {
		s.On("hi", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "back", m.Data) })
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	})
	got := make(chan string, 1)
	c, connected := startClient(t, "tcp", addr, cfg, func(c *nodeipc.Client) {
		c.On("back", func(m *nodeipc.Message) { got <- string(m.Data) })
	})
	recv(t, connected, "connect")
	_ = c.Emit("hi", []int{1, 2})
	if v := recv(t, got, "reply"); v != "[1,2]" {
		t.Fatalf("got %s", v)
	}
	// A codec that panics ends that connection, not the process.
	raw := dialRaw(t, "tcp", addr)
	defer raw.Close()
	_, _ = io.WriteString(raw, `{"e":"panic"}`+"\n")
	if err := recv(t, errs, "codec panic"); !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("got %v", err)
	}
}
