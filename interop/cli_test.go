package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIProxyBetweenNodeIPCPeers puts `nodeipc proxy` between a node-ipc
// client and a node-ipc server: what each side sends arrives unchanged, and
// the proxy shows every frame with its direction.
func TestCLIProxyBetweenNodeIPCPeers(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nodeipc")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/nodeipc").CombinedOutput(); err != nil {
		t.Fatalf("building nodeipc: %v\n%s", err, out)
	}
	for _, lib := range []int{9, 14} {
		for _, network := range []string{"unix", "tcp"} {
			t.Run(fmt.Sprintf("v%d/%s", lib, network), func(t *testing.T) {
				server := newEndpoint(t, network)
				front := newEndpoint(t, network)
				spec := func(e endpoint) string {
					if e.network == "unix" {
						return "unix:" + e.addr
					}
					return "tcp:" + e.addr
				}
				node := startPeer(t, server.opts(lib, "server", map[string]any{"events": []string{"shape"}}))

				px := exec.Command(bin, "proxy", "--listen", spec(front), "--to", spec(server), "--json")
				out, _ := px.StdoutPipe()
				var stderr strings.Builder
				px.Stderr = &stderr
				if err := px.Start(); err != nil {
					t.Fatal(err)
				}
				lines := make(chan map[string]any, 1000)
				go func() {
					sc := bufio.NewScanner(out)
					sc.Buffer(make([]byte, 1<<20), 4<<20)
					for sc.Scan() {
						var m map[string]any
						if json.Unmarshal(sc.Bytes(), &m) == nil {
							lines <- m
						}
					}
					close(lines)
				}()
				next := func(what string) map[string]any {
					t.Helper()
					select {
					case m, ok := <-lines:
						if !ok {
							t.Fatalf("proxy output ended before %s; stderr %q", what, stderr.String())
						}
						return m
					case <-time.After(10 * time.Second):
						t.Fatalf("no %s from the proxy", what)
					}
					return nil
				}
				if m := next("listening"); m["event"] != "listening" {
					t.Fatalf("first proxy line %v", m)
				}

				client := startPeer(t, front.opts(lib, "client", map[string]any{"events": []string{"shape"}}))
				client.expect("connect")
				node.expect("connect")
				if m := next("connect"); m["event"] != "connect" {
					t.Fatalf("proxy line %v", m)
				}
				for _, shape := range shapes[:8] {
					if lib == 9 && legacyNormalised(lib, shape) != shape {
						continue
					}
					var v any
					_ = json.Unmarshal([]byte(shape), &v)
					client.send(map[string]any{"cmd": "emit", "type": "shape", "data": v})
					e := node.expect("event")
					if !sameJSON(e.raw("data"), shape) {
						t.Fatalf("server got %s, client sent %s", e.raw("data"), shape)
					}
					m := next("client frame")
					if m["direction"] != "client-to-server" || m["event"] != "shape" {
						t.Fatalf("proxy showed %v", m)
					}
					shown, _ := json.Marshal(m["data"])
					if !sameJSON(string(shown), shape) {
						t.Fatalf("proxy showed data %s, want %s", shown, shape)
					}

					node.send(map[string]any{"cmd": "emit", "sock": e["sock"], "type": "shape", "data": v})
					back := client.expect("event")
					if !sameJSON(back.raw("data"), shape) {
						t.Fatalf("client got %s, server sent %s", back.raw("data"), shape)
					}
					if m := next("server frame"); m["direction"] != "server-to-client" || m["event"] != "shape" {
						t.Fatalf("proxy showed %v", m)
					}
				}
				_ = px.Process.Signal(syscall.SIGINT)
				for range lines {
				}
				_ = px.Wait()
				if code := px.ProcessState.ExitCode(); code != 130 {
					t.Errorf("proxy exit %d after Ctrl-C, stderr %q", code, stderr.String())
				}
				if front.network == "unix" {
					if _, err := os.Lstat(front.addr); !os.IsNotExist(err) {
						t.Errorf("proxy socket left behind: %v", err)
					}
				}
			})
		}
	}
}
