package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// The guarded and assured profiles against node-ipc 14's, both ways: a
// node-ipc 14 server with nodeipc clients, and a nodeipc server with node-ipc
// 14 clients. node-ipc 14 reads the profile settings from these config keys
// (entities/Defaults.js and EventParser.js of the installed package):
// parser, maxMessageSize, maxPendingBytes, maxEventNameLength,
// messageTimeout, allowReservedEvents, allowedEvents, and for local
// endpoints socketRoot and secureSocketRoot.

// profileEvents are the events the assured endpoints allow.
var profileEvents = []string{"message", "reply", "événement"}

// profileSetup is a profile over a transport; assured over the network is
// mutual TLS, and locally a socket directly inside the secure socket root.
type profileSetup struct {
	profile   string
	transport string // unix or tls
}

func (ps profileSetup) String() string { return ps.profile + "/" + ps.transport }

// profileEnv is where one test's endpoints live.
type profileEnv struct {
	root  string // the secure socket root, with a trailing separator
	certs *testcert.Set
}

func newProfileEnv(t *testing.T) *profileEnv {
	t.Helper()
	dir := shortDir(t)
	certs, err := testcert.New(dir, "profiles")
	if err != nil {
		t.Fatal(err)
	}
	return &profileEnv{root: filepath.Join(dir, "root") + string(filepath.Separator), certs: certs}
}

// nodeConfig is the node-ipc 14 config of a setup, for role.
func (e *profileEnv) nodeConfig(ps profileSetup, role string, extra map[string]any) map[string]any {
	c := map[string]any{"parser": ps.profile, "socketRoot": e.root, "retry": 50, "stopRetrying": true}
	if ps.profile == nodeipc.ParserAssured {
		c["allowedEvents"] = profileEvents
	}
	if ps.transport == "tls" {
		tls := map[string]any{"private": e.certs.Server.KeyFile, "public": e.certs.Server.CertFile,
			"trustedConnections": []string{e.certs.CAFile}, "requestCert": true, "rejectUnauthorized": true}
		if role == "client" {
			tls = map[string]any{"private": e.certs.Client.KeyFile, "public": e.certs.Client.CertFile,
				"trustedConnections": []string{e.certs.CAFile}, "rejectUnauthorized": true}
		}
		c["tls"] = tls
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// goProfileConfig is the nodeipc config of a setup, for role.
func (e *profileEnv) goProfileConfig(ps profileSetup, role string) *nodeipc.Config {
	c := goConfig()
	c.Parser = ps.profile
	c.SocketRoot = e.root
	c.MaxRetries = 0
	if ps.profile == nodeipc.ParserAssured {
		c.AllowedEvents = profileEvents
	}
	if ps.transport == "tls" {
		c.TLS = &nodeipc.TLSConfig{Private: e.certs.Server.KeyFile, Public: e.certs.Server.CertFile, TrustedConnections: []string{e.certs.CAFile}}
		if role == "client" {
			c.TLS = &nodeipc.TLSConfig{Private: e.certs.Client.KeyFile, Public: e.certs.Client.CertFile, TrustedConnections: []string{e.certs.CAFile}}
		}
	}
	return c
}

// endpoint returns where a server of the setup listens: a socket directly
// inside the root, or a loopback port.
func (e *profileEnv) endpoint(t *testing.T, ps profileSetup, name string) endpoint {
	if ps.transport == "tls" {
		return tlsEndpoint(t)
	}
	return endpoint{network: "unix", addr: e.root + "app." + name}
}

// peerOpts are peer.mjs's options for a node-ipc 14 endpoint of the setup.
func (e *profileEnv) peerOpts(ps profileSetup, ep endpoint, role string, events []string, extra map[string]any) map[string]any {
	var o map[string]any
	if ps.transport == "tls" {
		o = endpoint{network: "tcp", addr: ep.addr}.opts(14, role, nil)
	} else {
		o = ep.opts(14, role, nil)
	}
	o["events"] = events
	o["exact"] = true
	o["config"] = e.nodeConfig(ps, role, extra)
	return o
}

// profilePayloads are sent both ways: what JSON.stringify escapes and what
// it writes raw, numbers as JavaScript writes them, nesting, empty values.
var profilePayloads = []any{
	"hello",
	"héllo ☃ 😀 \u2028\u2029 <>&",
	"\f\x00\x1f\"\\/\t",
	"",
	[]any{0.0, -0.5, 1e21, 1e-7, 0.1, 123456789012345680.0, math.MaxInt32},
	map[string]any{"a": []any{true, false, nil, map[string]any{"b": "c"}}, "é": map[string]any{}},
	strings.Repeat("long ", 2000),
	json.RawMessage("null"),
}

// dataOf returns the data member of a frame {"type":T,"data":D} (the
// delimiter included), for event type typ.
func dataOf(t *testing.T, frame []byte, typ string) []byte {
	t.Helper()
	prefix := `{"type":"` + typ + `","data":`
	if !bytes.HasPrefix(frame, []byte(prefix)) || !bytes.HasSuffix(frame, []byte("}\f")) {
		t.Fatalf("frame %.60q is not {type,data}", frame)
	}
	return frame[len(prefix) : len(frame)-2]
}

// nodeFrame asks a node-ipc 14 peer for the exact frame it writes.
func nodeFrame(t *testing.T, p *peer, typ string, data any) []byte {
	t.Helper()
	p.send(map[string]any{"cmd": "encode", "type": typ, "data": data})
	e := p.expect("encoded")
	b, err := hex.DecodeString(e.str("hex"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goFrame(t *testing.T, typ string, data any) []byte {
	t.Helper()
	b, err := nodeipc.EncodeFrame(typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Allowed events flow both ways byte for byte: node-ipc 14 and nodeipc
// write the same frame for the same event, what one writes the other
// receives unchanged, in the guarded and assured profiles, locally and over
// mutual TLS, with either side serving.
func TestProfilesEventsAreByteIdentical(t *testing.T) {
	env := newProfileEnv(t)
	for _, ps := range []profileSetup{{"guarded", "unix"}, {"assured", "unix"}, {"assured", "tls"}} {
		t.Run(ps.String()+"/node-server", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "node-"+ps.profile)
			node := startPeer(t, env.peerOpts(ps, ep, "server", profileEvents, nil))
			got := make(chan *nodeipc.Message, 64)
			c, connected := startClientWith(t, ep.network, ep.addr, env.goProfileConfig(ps, "client"), func(c *nodeipc.Client) {
				c.On("reply", func(m *nodeipc.Message) { got <- m })
			})
			within(t, connected, "connect")
			sock := node.expect("connect")["sock"]
			for i, v := range profilePayloads {
				typ := profileEvents[2*(i%2)] // message and événement
				// nodeipc to node-ipc.
				if err := c.Emit(typ, v); err != nil {
					t.Fatal(err)
				}
				e := node.expect("event")
				if e.str("type") != typ || e.str("json") != string(dataOf(t, goFrame(t, typ, v), typ)) {
					t.Fatalf("payload %d: node-ipc got %s %.80s, nodeipc wrote %.80q", i, e.str("type"), e.str("json"), goFrame(t, typ, v))
				}
				// node-ipc to nodeipc.
				node.send(map[string]any{"cmd": "emit", "sock": sock, "type": "reply", "data": v})
				m := within(t, got, "reply")
				want := nodeFrame(t, node, "reply", v)
				if !bytes.Equal(m.Data, dataOf(t, want, "reply")) {
					t.Fatalf("payload %d: nodeipc got %.80q, node-ipc wrote %.80q", i, m.Data, want)
				}
				if g := goFrame(t, "reply", v); !bytes.Equal(g, want) {
					t.Fatalf("payload %d: frames differ:\nnodeipc  %.120q\nnode-ipc %.120q", i, g, want)
				}
			}
		})
		t.Run(ps.String()+"/go-server", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "go-"+ps.profile)
			got := make(chan *nodeipc.Message, 64)
			srv := startServerWith(t, ep.network, ep.addr, env.goProfileConfig(ps, "server"), func(s *nodeipc.Server) {
				s.On("message", func(m *nodeipc.Message) { got <- m })
				s.On("événement", func(m *nodeipc.Message) { got <- m })
			})
			node := startPeer(t, env.peerOpts(ps, ep, "client", []string{"reply"}, nil))
			node.expect("connect")
			for i, v := range profilePayloads {
				typ := profileEvents[2*(i%2)]
				node.send(map[string]any{"cmd": "emit", "type": typ, "data": v})
				m := within(t, got, typ)
				want := nodeFrame(t, node, typ, v)
				if m.Type != typ || !bytes.Equal(m.Data, dataOf(t, want, typ)) {
					t.Fatalf("payload %d: nodeipc got %s %.80q, node-ipc wrote %.80q", i, m.Type, m.Data, want)
				}
				if g := goFrame(t, typ, v); !bytes.Equal(g, want) {
					t.Fatalf("payload %d: frames differ:\nnodeipc  %.120q\nnode-ipc %.120q", i, g, want)
				}
				if err := srv.Emit(m.Socket, "reply", v); err != nil {
					t.Fatal(err)
				}
				e := node.expect("event")
				if e.str("type") != "reply" || e.str("json") != string(dataOf(t, goFrame(t, "reply", v), "reply")) {
					t.Fatalf("payload %d: node-ipc got %.80s, nodeipc wrote %.80q", i, e.str("json"), goFrame(t, "reply", v))
				}
			}
		})
	}
}

// Both refuse to send what their peer would refuse, with the same code:
// node-ipc 14's emit throws it, nodeipc's Emit returns it.
func TestProfilesSendSideRefusalsMatch(t *testing.T) {
	env := newProfileEnv(t)
	for _, ps := range []profileSetup{{"guarded", "unix"}, {"assured", "unix"}} {
		t.Run(ps.profile, func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "refusals-"+ps.profile)
			node := startPeer(t, env.peerOpts(ps, ep, "client", []string{"reply"}, map[string]any{"maxMessageSize": 1024}))
			cfg := env.goProfileConfig(ps, "client")
			cfg.MaxMessageSize = 1024
			c, err := nodeipc.NewClient("go", ep.network, ep.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			for _, tc := range []struct {
				name, typ string
				data      any
			}{
				{"reserved", "error", 1},
				{"reserved close", "close", 1},
				{"prototype", "constructor", 1},
				{"prototype __proto__", "__proto__", 1},
				{"empty name", "", 1},
				{"name over 256 UTF-16 units", strings.Repeat("😀", 129), 1},
				{"frame over maxMessageSize", "message", strings.Repeat("é", 600)},
				{"unlisted", "secret", 1},
				{"allowed", "message", 1},
			} {
				node.send(map[string]any{"cmd": "tryemit", "type": tc.typ, "data": tc.data})
				e := node.expectAny("emitted", "emitError")
				nodeCode := nodeipc.Code(e.str("code"))
				var goCode nodeipc.Code
				var pe *nodeipc.ProtocolError
				if err := c.Emit(tc.typ, tc.data); errors.As(err, &pe) {
					goCode = pe.Code
				} else if err != nil {
					t.Fatalf("%s: nodeipc: %v", tc.name, err)
				}
				t.Logf("%-28s node-ipc 14: %-26s nodeipc: %s", tc.name, orNone(nodeCode), orNone(goCode))
				if nodeCode != goCode {
					t.Errorf("%s: node-ipc 14 %q, nodeipc %q", tc.name, nodeCode, goCode)
				}
			}
		})
	}
}

func orNone(code nodeipc.Code) string {
	if code == "" {
		return "accepted"
	}
	return string(code)
}

// violation is what a hostile or broken peer writes, and what node-ipc 14
// and nodeipc do with it in the guarded and assured profiles (a code, or ""
// when the event is delivered).
type violation struct {
	name                   string
	bytes                  string
	guardedNode, guardedGo nodeipc.Code
	assuredNode, assuredGo nodeipc.Code
	event                  string // the event delivered, when one is
	why                    string // why nodeipc differs from node-ipc 14, where it does
}

const violationLimit = 1024 // maxMessageSize of the receivers

var (
	emoji128 = strings.Repeat("😀", 128) // 256 UTF-16 units: the longest name
	emoji129 = strings.Repeat("😀", 129)
)

func sameCode(name, bytes string, code nodeipc.Code) violation {
	return violation{name: name, bytes: bytes, guardedNode: code, guardedGo: code, assuredNode: code, assuredGo: code}
}

var violations = []violation{
	sameCode("frame over maxMessageSize", `{"type":"message","data":"`+strings.Repeat("x", violationLimit)+`"}`+"\f", nodeipc.CodeFrameTooLarge),
	sameCode("unfinished frame over maxMessageSize", `{"type":"message","data":"`+strings.Repeat("x", violationLimit), nodeipc.CodeFrameTooLarge),
	{name: "frame of exactly maxMessageSize bytes", bytes: `{"type":"message","data":"` + strings.Repeat("é", (violationLimit-28)/2) + `"}` + "\f", event: "message"},
	sameCode("reserved name", `{"type":"error","data":"spoofed"}`+"\f", nodeipc.CodeReservedEvent),
	sameCode("prototype name", `{"type":"constructor","data":1}`+"\f", nodeipc.CodeInvalidEvent),
	{name: "unlisted event", bytes: `{"type":"secret","data":1}` + "\f", assuredNode: nodeipc.CodeEventNotAllowed, assuredGo: nodeipc.CodeEventNotAllowed, event: "secret"},
	sameCode("name of 257 characters", `{"type":"`+strings.Repeat("n", 257)+`","data":1}`+"\f", nodeipc.CodeEventTooLarge),
	{name: "name of 256 UTF-16 units", bytes: `{"type":"` + emoji128 + `","data":1}` + "\f", assuredNode: nodeipc.CodeEventNotAllowed, assuredGo: nodeipc.CodeEventNotAllowed, event: emoji128},
	sameCode("name of 258 UTF-16 units", `{"type":"`+emoji129+`","data":1}`+"\f", nodeipc.CodeEventTooLarge),
	sameCode("invalid JSON", "not json\f", nodeipc.CodeInvalidJSON),
	sameCode("empty frame", "\f", nodeipc.CodeInvalidJSON),
	sameCode("array", "[1]\f", nodeipc.CodeInvalidMessage),
	sameCode("null", "null\f", nodeipc.CodeInvalidMessage),
	sameCode("numeric type", `{"type":5,"data":1}`+"\f", nodeipc.CodeInvalidEvent),
	sameCode("missing type", `{"data":1}`+"\f", nodeipc.CodeInvalidEvent),
	sameCode("partial frame past messageTimeout", `{"type":"message","da`, nodeipc.CodeMessageTimeout),
	{name: "invalid UTF-8", bytes: "{\"type\":\"message\",\"data\":\"\xff\"}\f", guardedGo: nodeipc.CodeInvalidJSON, assuredGo: nodeipc.CodeInvalidJSON, event: "message",
		why: "node-ipc decodes the stream as UTF-8 and delivers U+FFFD; nodeipc refuses bytes no JSON text may hold"},
}

func (v violation) want(profile string) (node, goCode string) {
	if profile == nodeipc.ParserAssured {
		return string(v.assuredNode), string(v.assuredGo)
	}
	return string(v.guardedNode), string(v.guardedGo)
}

// violationEvents are the events node-ipc peers report.
var violationEvents = []string{"message", "secret", emoji128}

// A violation written by one side gets the same code from both
// implementations as receiver, server or client, in the guarded and
// assured profiles: node-ipc 14 receives it from nodeipc, and nodeipc
// receives it from node-ipc 14 (whose peer writes the bytes past its own
// parser). Where node-ipc reports no error, the difference is documented.
func TestProfilesViolationsGiveTheSameCodes(t *testing.T) {
	env := newProfileEnv(t)
	limits := map[string]any{"maxMessageSize": violationLimit, "messageTimeout": 300}
	goLimits := func(c *nodeipc.Config) *nodeipc.Config {
		c.MaxMessageSize = violationLimit
		c.MessageTimeout = 300 * time.Millisecond
		return c
	}
	for _, v := range violations {
		if v.why != "" {
			t.Logf("%s: nodeipc differs: %s", v.name, v.why)
		}
	}
	for _, profile := range []string{nodeipc.ParserGuarded, nodeipc.ParserAssured} {
		ps := profileSetup{profile, "unix"}
		// node-ipc 14 server; nodeipc (raw mode) writes the violation.
		t.Run(profile+"/node-server", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "vns-"+profile)
			node := startPeer(t, env.peerOpts(ps, ep, "server", violationEvents, limits))
			for _, v := range violations {
				wantNode, _ := v.want(profile)
				cfg := goConfig()
				cfg.Parser = nodeipc.ParserRaw
				cfg.StopRetrying = true
				c, connected := startClientWith(t, "unix", ep.addr, cfg, func(*nodeipc.Client) {})
				within(t, connected, "connect")
				if err := c.Emit("", []byte(v.bytes)); err != nil {
					t.Fatal(err)
				}
				checkNodeReceiver(t, node, v, wantNode)
				_ = c.Close(context.Background())
				node.expect("socket.disconnected")
			}
		})
		// nodeipc server; a node-ipc 14 client writes the violation.
		t.Run(profile+"/go-server", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "vgs-"+profile)
			got := make(chan string, 4)
			startServerWith(t, "unix", ep.addr, goLimits(env.goProfileConfig(ps, "server")), func(s *nodeipc.Server) {
				s.On("*", func(m *nodeipc.Message) { got <- "event " + m.Type })
				s.On("error", func(m *nodeipc.Message) { got <- "error " + codeOf(m.Err) })
			})
			for _, v := range violations {
				_, wantGo := v.want(profile)
				node := startPeer(t, env.peerOpts(ps, ep, "client", nil, limits))
				node.expect("connect")
				node.send(map[string]any{"cmd": "write", "hex": hex.EncodeToString([]byte(v.bytes))})
				checkGoReceiver(t, got, v, wantGo)
				node.send(map[string]any{"cmd": "exit"})
			}
		})
		// node-ipc 14 client; a nodeipc server (raw mode) writes the
		// violation.
		t.Run(profile+"/node-client", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "vnc-"+profile)
			for _, v := range violations {
				wantNode, _ := v.want(profile)
				cfg := goConfig()
				cfg.Parser = nodeipc.ParserRaw
				cfg.SocketRoot = env.root
				srv, err := nodeipc.NewServer("unix", ep.addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				srv.On("connect", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "", []byte(v.bytes)) })
				if err := srv.Start(); err != nil {
					t.Fatal(err)
				}
				node := startPeer(t, env.peerOpts(ps, ep, "client", violationEvents, limits))
				checkNodeReceiver(t, node, v, wantNode)
				if wantNode != "" {
					node.expect("destroy") // a protocol violation is final
				}
				node.send(map[string]any{"cmd": "exit"})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err = srv.Shutdown(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
		})
		// nodeipc client; a node-ipc 14 server writes the violation.
		t.Run(profile+"/go-client", func(t *testing.T) {
			t.Parallel()
			ep := env.endpoint(t, ps, "vgc-"+profile)
			node := startPeer(t, env.peerOpts(ps, ep, "server", nil, limits))
			for _, v := range violations {
				_, wantGo := v.want(profile)
				got := make(chan string, 4)
				destroyed := make(chan struct{}, 1)
				c, connected := startClientWith(t, "unix", ep.addr, goLimits(env.goProfileConfig(ps, "client")), func(c *nodeipc.Client) {
					c.On("*", func(m *nodeipc.Message) { got <- "event " + m.Type })
					c.On("error", func(m *nodeipc.Message) { got <- "error " + codeOf(m.Err) })
					c.On("destroy", func(*nodeipc.Message) { destroyed <- struct{}{} })
				})
				within(t, connected, "connect")
				sock := node.expect("connect")["sock"]
				node.send(map[string]any{"cmd": "write", "sock": sock, "hex": hex.EncodeToString([]byte(v.bytes))})
				checkGoReceiver(t, got, v, wantGo)
				if wantGo != "" {
					within(t, destroyed, "destroy after a violation")
				}
				_ = c.Close(context.Background())
				node.expect("socket.disconnected")
			}
		})
	}
}

func codeOf(err error) string {
	var pe *nodeipc.ProtocolError
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return err.Error()
}

// checkNodeReceiver waits for what a node-ipc 14 peer does with the
// violation: an error with its code, or the event.
func checkNodeReceiver(t *testing.T, node *peer, v violation, want string) {
	t.Helper()
	e := node.expectAny("error", "event")
	switch {
	case want == "" && (e.str("ev") != "event" || e.str("type") != v.event):
		t.Fatalf("%s: node-ipc 14 did %v, want the event %.20s delivered", v.name, e, v.event)
	case want != "" && (e.str("ev") != "error" || e.str("code") != want):
		t.Fatalf("%s: node-ipc 14 did %v, want %s", v.name, e, want)
	}
}

// checkGoReceiver waits for what nodeipc does with the violation.
func checkGoReceiver(t *testing.T, got chan string, v violation, want string) {
	t.Helper()
	g := within(t, got, v.name)
	switch {
	case want == "" && g != "event "+v.event:
		t.Fatalf("%s: nodeipc did %.60s, want the event delivered", v.name, g)
	case want != "" && g != "error "+want:
		t.Fatalf("%s: nodeipc did %.60s, want %s", v.name, g, want)
	}
}

// expectAny waits for the next line whose ev is one of evs.
func (p *peer) expectAny(evs ...string) event {
	p.t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s exited while waiting for %v; stderr:\n%s", p.name, evs, p.errText())
			}
			if e.str("ev") == "crash" {
				p.t.Fatalf("%s crashed: %v", p.name, e["message"])
			}
			for _, ev := range evs {
				if e.str("ev") == ev {
					return e
				}
			}
		case <-timer.C:
			p.t.Fatalf("%s: timed out waiting for %v; stderr:\n%s", p.name, evs, p.errText())
		}
	}
}

// nodeStartCode launches a node-ipc 14 peer and returns the code of the
// error it throws while starting ("" when it starts; the error's name, such
// as TypeError, for an error without a code).
func nodeStartCode(t *testing.T, opts map[string]any) nodeipc.Code {
	t.Helper()
	p := launchPeer(t, opts)
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				t.Fatalf("%s exited without starting; stderr:\n%s", p.name, p.errText())
			}
			switch e.str("ev") {
			case "ready":
				p.send(map[string]any{"cmd": "exit"})
				return ""
			case "crash":
				if e.str("code") == "" {
					name, _, _ := strings.Cut(e.str("message"), ":")
					return nodeipc.Code(name)
				}
				return nodeipc.Code(e.str("code"))
			}
		case <-timer.C:
			t.Fatalf("%s neither started nor failed; stderr:\n%s", p.name, p.errText())
		}
	}
}

// goServerStartCode builds and starts a nodeipc server and returns the code
// of the error it refuses to start with ("" when it starts).
func goServerStartCode(t *testing.T, network, addr string, cfg *nodeipc.Config) nodeipc.Code {
	t.Helper()
	srv, err := nodeipc.NewServer(network, addr, cfg)
	if err == nil {
		if err = srv.Start(); err == nil {
			_ = srv.Stop()
			return ""
		}
	}
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("nodeipc: %v, want a *ProtocolError", err)
	}
	return pe.Code
}

// Both decide the same way where an assured server may listen: only on a
// socket directly inside the secure socket root, and never in a root that
// is a symlink.
func TestProfilesAssuredSocketRootRulesMatch(t *testing.T) {
	dir := shortDir(t)
	root := filepath.Join(dir, "root") + string(filepath.Separator)
	link := filepath.Join(dir, "link") + string(filepath.Separator)
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Clean(link)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		root, path string // path: node-ipc 14 listens at path+"n", nodeipc at path+"g"
		secure     bool
		want       nodeipc.Code
	}{
		{"directly inside the root", root, root + "app.a", true, ""},
		{"in a directory below the root", root, filepath.Join(root, "sub", "app.b"), true, nodeipc.CodeAssuredTransport},
		{"outside the root", root, filepath.Join(dir, "app.c"), true, nodeipc.CodeAssuredTransport},
		{"secureSocketRoot off", root, root + "app.d", false, nodeipc.CodeAssuredTransport},
		{"the root is a symlink", link, link + "app.e", true, nodeipc.CodeSocketRoot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeCode := nodeStartCode(t, map[string]any{"lib": 14, "role": "server", "transport": "unix", "path": tc.path + "n",
				"config": map[string]any{"parser": "assured", "allowedEvents": profileEvents, "socketRoot": tc.root, "secureSocketRoot": tc.secure}})
			cfg := goConfig()
			cfg.Parser = nodeipc.ParserAssured
			cfg.AllowedEvents = profileEvents
			cfg.SocketRoot = tc.root
			cfg.SecureSocketRoot = tc.secure
			goCode := goServerStartCode(t, "unix", tc.path+"g", cfg)
			t.Logf("node-ipc 14: %-26s nodeipc: %s", orNone(nodeCode), orNone(goCode))
			if nodeCode != tc.want || goCode != tc.want {
				t.Fatalf("node-ipc 14 %q, nodeipc %q, want %q", nodeCode, goCode, tc.want)
			}
		})
	}
}

// Both refuse an assured endpoint without a list of allowed events when it
// is built: node-ipc 14 throws a TypeError, nodeipc returns an error.
func TestProfilesAssuredNeedsAllowedEvents(t *testing.T) {
	dir := shortDir(t)
	root := filepath.Join(dir, "root") + string(filepath.Separator)
	for _, role := range []string{"server", "client"} {
		t.Run(role, func(t *testing.T) {
			nodeErr := nodeStartCode(t, map[string]any{"lib": 14, "role": role, "transport": "unix", "path": root + "app.n",
				"config": map[string]any{"parser": "assured", "socketRoot": root, "stopRetrying": true}})
			cfg := goConfig()
			cfg.Parser = nodeipc.ParserAssured
			cfg.SocketRoot = root
			var err error
			if role == "server" {
				_, err = nodeipc.NewServer("unix", root+"app.g", cfg)
			} else {
				_, err = nodeipc.NewClient("go", "unix", root+"app.g", cfg)
			}
			t.Logf("node-ipc 14: %s; nodeipc: %v", nodeErr, err)
			if nodeErr != "TypeError" || err == nil || !strings.Contains(err.Error(), "AllowedEvents") {
				t.Fatalf("node-ipc 14 %q, nodeipc %v: want both to refuse", nodeErr, err)
			}
		})
	}
}

// Both refuse the same network setups for the assured profile, with the
// same code, before any connection is made: plain TCP and UDP servers, TLS
// servers that do not require verified client certificates, plain TCP
// clients, and TLS clients without a certificate, a CA, or verification.
func TestProfilesAssuredNetworkGatesMatch(t *testing.T) {
	certs, err := testcert.New(shortDir(t), "gates")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	mutualServer := map[string]any{"private": certs.Server.KeyFile, "public": certs.Server.CertFile, "trustedConnections": []string{certs.CAFile}}
	mutualClient := map[string]any{"private": certs.Client.KeyFile, "public": certs.Client.CertFile, "trustedConnections": []string{certs.CAFile}}
	for _, tc := range []struct {
		name      string
		role      string
		transport string         // tcp, udp4, tls
		nodeTLS   map[string]any // node-ipc's config.tls; nil: none
		goTLS     *nodeipc.TLSConfig
		want      nodeipc.Code
	}{
		{"server over plain TCP", "server", "tcp", nil, nil, nodeipc.CodeAssuredTransport},
		{"server over UDP", "server", "udp4", nil, nil, nodeipc.CodeAssuredTransport},
		{"TLS server without a client CA", "server", "tls",
			map[string]any{"private": certs.Server.KeyFile, "public": certs.Server.CertFile},
			&nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile}, nodeipc.CodeAssuredTLS},
		{"TLS server not requesting certificates", "server", "tls",
			map[string]any{"private": certs.Server.KeyFile, "public": certs.Server.CertFile, "trustedConnections": []string{certs.CAFile}, "requestCert": false},
			&nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile, TrustedConnections: []string{certs.CAFile}, RequestCert: &no}, nodeipc.CodeAssuredTLS},
		{"TLS server with mutual TLS", "server", "tls", mutualServer,
			&nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile, TrustedConnections: []string{certs.CAFile}}, ""},
		{"client over plain TCP", "client", "tcp", nil, nil, nodeipc.CodeAssuredTransport},
		{"TLS client without a certificate", "client", "tls",
			map[string]any{"trustedConnections": []string{certs.CAFile}},
			&nodeipc.TLSConfig{TrustedConnections: []string{certs.CAFile}}, nodeipc.CodeAssuredTLS},
		{"TLS client without a CA", "client", "tls",
			map[string]any{"private": certs.Client.KeyFile, "public": certs.Client.CertFile},
			&nodeipc.TLSConfig{Private: certs.Client.KeyFile, Public: certs.Client.CertFile}, nodeipc.CodeAssuredTLS},
		{"TLS client not verifying the server", "client", "tls",
			map[string]any{"private": certs.Client.KeyFile, "public": certs.Client.CertFile, "trustedConnections": []string{certs.CAFile}, "rejectUnauthorized": false},
			&nodeipc.TLSConfig{Private: certs.Client.KeyFile, Public: certs.Client.CertFile, TrustedConnections: []string{certs.CAFile}, RejectUnauthorized: &no}, nodeipc.CodeAssuredTLS},
		{"TLS client with mutual TLS", "client", "tls", mutualClient,
			&nodeipc.TLSConfig{Private: certs.Client.KeyFile, Public: certs.Client.CertFile, TrustedConnections: []string{certs.CAFile}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			transport := tc.transport
			if transport == "tls" {
				transport = "tcp" // node-ipc: TCP with config.tls
			}
			config := map[string]any{"parser": "assured", "allowedEvents": profileEvents, "stopRetrying": true}
			if tc.nodeTLS != nil {
				config["tls"] = tc.nodeTLS
			}
			nodeCode := nodeStartCode(t, map[string]any{"lib": 14, "role": tc.role, "transport": transport,
				"host": "127.0.0.1", "port": port, "config": config})

			cfg := goConfig()
			cfg.Parser = nodeipc.ParserAssured
			cfg.AllowedEvents = profileEvents
			cfg.TLS = tc.goTLS
			cfg.StopRetrying = true
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // node-ipc may still hold its port
			var goCode nodeipc.Code
			if tc.role == "server" {
				goCode = goServerStartCode(t, tc.transport, addr, cfg)
			} else if _, err := nodeipc.NewClient("go", tc.transport, addr, cfg); err != nil {
				var pe *nodeipc.ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("nodeipc: %v, want a *ProtocolError", err)
				}
				goCode = pe.Code
			}
			t.Logf("node-ipc 14: %-26s nodeipc: %s", orNone(nodeCode), orNone(goCode))
			if nodeCode != tc.want || goCode != tc.want {
				t.Fatalf("node-ipc 14 %q, nodeipc %q, want %q", nodeCode, goCode, tc.want)
			}
		})
	}
}

// An assured TLS server of either implementation admits only clients with
// a certificate its CA signed: a guarded client of the other
// implementation without one never connects, and one with a certificate
// does.
func TestProfilesAssuredServerRequiresClientCertificates(t *testing.T) {
	env := newProfileEnv(t)
	ps := profileSetup{nodeipc.ParserAssured, "tls"}
	noCert := map[string]any{"trustedConnections": []string{env.certs.CAFile}}

	t.Run("node-server", func(t *testing.T) {
		t.Parallel()
		ep := env.endpoint(t, ps, "")
		node := startPeer(t, env.peerOpts(ps, ep, "server", profileEvents, nil))
		cfg := goConfig()
		cfg.Parser = nodeipc.ParserGuarded
		cfg.StopRetrying = true
		cfg.TLS = &nodeipc.TLSConfig{TrustedConnections: []string{env.certs.CAFile}}
		errs := make(chan error, 4)
		startClientWith(t, "tls", ep.addr, cfg, func(c *nodeipc.Client) {
			c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
		})
		err := within(t, errs, "the refusal")
		t.Logf("nodeipc client without a certificate: %v", err)
		// A client with a certificate connects, and is the first the
		// node-ipc 14 server reports.
		good, connected := startClientWith(t, "tls", ep.addr, env.goProfileConfig(ps, "client"), func(*nodeipc.Client) {})
		within(t, connected, "connect")
		if e := node.expect("connect"); e.raw("sock") != "1" {
			t.Fatalf("the server reported connection %s first: the client without a certificate got in", e.raw("sock"))
		}
		if err := good.Emit("message", "in"); err != nil {
			t.Fatal(err)
		}
		if e := node.expect("event"); e.str("json") != `"in"` {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("go-server", func(t *testing.T) {
		t.Parallel()
		ep := env.endpoint(t, ps, "")
		errs := make(chan error, 4)
		var mu sync.Mutex
		var connects []string
		got := make(chan string, 4)
		startServerWith(t, ep.network, ep.addr, env.goProfileConfig(ps, "server"), func(s *nodeipc.Server) {
			s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
			s.On("connect", func(m *nodeipc.Message) {
				mu.Lock()
				connects = append(connects, m.Socket.String())
				mu.Unlock()
			})
			s.On("message", func(m *nodeipc.Message) { got <- string(m.Data) })
		})
		bad := env.peerOpts(profileSetup{nodeipc.ParserGuarded, "tls"}, ep, "client", nil, nil)
		bad["config"].(map[string]any)["tls"] = noCert
		node := startPeer(t, bad)
		node.send(map[string]any{"cmd": "emit", "type": "message", "data": "from the client without a certificate"})
		err := within(t, errs, "the refusal")
		if !strings.Contains(err.Error(), "TLS handshake") {
			t.Fatalf("got %v, want a TLS handshake failure", err)
		}
		t.Logf("node-ipc 14 client without a certificate: %v", err)
		mu.Lock()
		n := len(connects)
		mu.Unlock()
		if n != 0 {
			t.Fatalf("%d connections admitted", n)
		}
		goodNode := startPeer(t, env.peerOpts(ps, ep, "client", nil, nil))
		goodNode.expect("connect")
		goodNode.send(map[string]any{"cmd": "emit", "type": "message", "data": "in"})
		if m := within(t, got, "message"); m != `"in"` {
			t.Fatalf("got %s, want the message of the client with a certificate", m)
		}
	})
}
