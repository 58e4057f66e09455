//go:build unix

package nodeipc_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/effeeea0/nodeipc"
)

// socketWay is a kind of directory a socket is made in, and the way it is
// made there.
type socketWay struct {
	name  string
	perm  os.FileMode
	aside bool // bound aside and moved into place
}

// socketWays: in a directory only this user can enter the socket is bound
// in place; in a world-writable one like /tmp its mode is set before bind
// (Linux), or it is bound aside in a private directory and moved into place
// (elsewhere, and where the kernel ignores the mode set before bind).
var socketWays = []socketWay{
	{"private", 0o700, false},
	{"world-writable", 0o777 | os.ModeSticky, false},
	{"world-writable/aside", 0o777 | os.ModeSticky, true},
}

// use makes the way the one taken until the test ends.
func (w socketWay) use(t testing.TB) {
	if w.aside {
		was := nodeipc.SetModeBeforeBind(false)
		t.Cleanup(func() { nodeipc.SetModeBeforeBind(was) })
	}
}

// A socket file gets exactly the mode its settings give it (0600, plus 044
// for ReadableAll and 022 for WritableAll) made either way; the listener
// reports the path as its address, nothing else is left in the directory,
// and closing the listener removes the file.
func TestSocketFileModeAndAddress(t *testing.T) {
	for _, d := range socketWays {
		t.Run(d.name, func(t *testing.T) {
			d.use(t)
			for _, c := range []struct {
				readable, writable bool
				mode               os.FileMode
			}{
				{false, false, 0o600},
				{true, false, 0o644},
				{false, true, 0o622},
				{true, true, 0o666},
			} {
				dir := worldDir(t, d.perm)
				path := filepath.Join(dir, "app.mode")
				cfg := testConfig()
				cfg.ReadableAll, cfg.WritableAll = c.readable, c.writable
				ln, err := nodeipc.Listen("unix", path, cfg)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != c.mode {
					t.Errorf("ReadableAll %v, WritableAll %v: %s, want a socket with mode %v", c.readable, c.writable, fi.Mode(), c.mode)
				}
				if got := ln.Addr().String(); got != path {
					t.Errorf("Addr %q, want %q", got, path)
				}
				if names := dirNames(t, dir); len(names) != 1 {
					t.Errorf("the directory holds %v, want the socket only", names)
				}
				dialRaw(t, "unix", path).Close()
				ln.Close()
				if names := dirNames(t, dir); len(names) != 0 {
					t.Errorf("closed, the directory still holds %v", names)
				}
			}
		})
	}
}

// The rules about what is already at the path hold whichever way the
// socket is made: a file of another kind is refused and left in place; a
// live server's socket is never taken; with Unlink false a stale socket is
// not replaced (address in use); with Unlink true it is.
func TestSocketPathRulesInEveryWay(t *testing.T) {
	for _, d := range socketWays {
		t.Run(d.name, func(t *testing.T) {
			d.use(t)
			dir := worldDir(t, d.perm)

			file := filepath.Join(dir, "app.file")
			if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			var pe *nodeipc.ProtocolError
			if _, err := nodeipc.Listen("unix", file, testConfig()); !errors.As(err, &pe) || pe.Code != nodeipc.CodeUnlinkNotSocket {
				t.Fatalf("a regular file at the path: %v, want %s", err, nodeipc.CodeUnlinkNotSocket)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
				t.Fatalf("the regular file was touched: %q, %v", b, err)
			}

			path := filepath.Join(dir, "app.live")
			live, err := nodeipc.Listen("unix", path, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nodeipc.Listen("unix", path, testConfig()); !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("a live server at the path: %v, want address in use", err)
			}
			dialRaw(t, "unix", path).Close()
			live.Close()

			stale := staleSocket(t, filepath.Join(dir, "app.stale"))
			cfg := testConfig()
			cfg.Unlink = false
			if _, err := nodeipc.Listen("unix", stale, cfg); !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("a stale socket with Unlink false: %v, want address in use", err)
			}
			if fi, err := os.Lstat(stale); err != nil || fi.Mode()&fs.ModeSocket == 0 {
				t.Fatalf("the stale socket is gone: %v", err)
			}
			ln, err := nodeipc.Listen("unix", stale, testConfig())
			if err != nil {
				t.Fatalf("a stale socket with Unlink true: %v", err)
			}
			dialRaw(t, "unix", stale).Close()
			ln.Close()
			if names := dirNames(t, dir); len(names) != 1 || names[0] != "app.file" {
				t.Fatalf("the directory holds %v, want app.file only", names)
			}
		})
	}
}

// Closing a listener removes its socket file only while that file is still
// its own: a socket another server put at the path since stays.
// (In a private directory the socket is a net.UnixListener's, which
// removes the path: nobody else can have put a file there.)
func TestClosingLeavesASocketThatReplacedOurs(t *testing.T) {
	for _, d := range socketWays[1:] {
		t.Run(d.name, func(t *testing.T) {
			d.use(t)
			path := filepath.Join(worldDir(t, d.perm), "app.replaced")
			ln, err := nodeipc.Listen("unix", path, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			other, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			ln.Close()
			dialRaw(t, "unix", path).Close()
		})
	}
}

// The sun_path limit (107 bytes on Linux, 103 on macOS) holds for the
// socket path, with an error that says so. A socket bound aside is first
// bound at a longer temporary path beside the final one: a path of the
// longest length still works, and a directory too long for the temporary
// path is refused with an error that says so, leaving nothing behind.
func TestSocketPathLengthLimitWhenBoundAside(t *testing.T) {
	socketWays[2].use(t)
	most := len(syscall.RawSockaddrUnix{}.Path) - 1

	// A path of the longest length, with a long name: bound aside under a
	// short name, it works.
	dir := longDir(t, most-20)
	path := dir + strings.Repeat("n", most-len(dir))
	ln, err := nodeipc.Listen("unix", path, testConfig())
	if err != nil {
		t.Fatalf("a path of %d bytes: %v", len(path), err)
	}
	if got := ln.Addr().String(); got != path {
		t.Fatalf("Addr %q, want %q", got, path)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket: %v %v", fi, err)
	}
	dialRaw(t, "unix", path).Close()
	ln.Close()

	// One byte more is over the limit.
	if _, err := nodeipc.Listen("unix", path+"n", testConfig()); err == nil || !strings.Contains(err.Error(), "a socket path can have") {
		t.Fatalf("a path of %d bytes: %v", len(path)+1, err)
	}

	// A directory so long that a temporary directory and name do not fit
	// beside a short name, although the final path would.
	dir = longDir(t, most-9)
	path = dir + "s.sock"
	if len(path) > most {
		t.Fatalf("test setup: %d bytes", len(path))
	}
	_, err = nodeipc.Listen("unix", path, testConfig())
	if err == nil || !strings.Contains(err.Error(), "never reachable before its mode is set") {
		t.Fatalf("a directory of %d bytes: %v", len(dir), err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
}

// The server's address is the socket path whichever way it was made, and
// stopping the server removes the file.
func TestServerAddrIsTheSocketPath(t *testing.T) {
	for _, d := range socketWays {
		t.Run(d.name, func(t *testing.T) {
			d.use(t)
			path := filepath.Join(worldDir(t, d.perm), "app.addr")
			srv, err := nodeipc.NewServer("unix", path, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			if got := srv.Addr().String(); got != path {
				t.Errorf("Addr %q, want %q", got, path)
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stopped, the socket file is still there: %v", err)
			}
		})
	}
}

// BenchmarkListenLocal measures opening and closing a socket listener
// each way it can be made.
func BenchmarkListenLocal(b *testing.B) {
	for _, d := range socketWays {
		b.Run(d.name, func(b *testing.B) {
			d.use(b)
			path := filepath.Join(worldDir(b, d.perm), "app.bench")
			cfg := testConfig()
			for b.Loop() {
				ln, err := nodeipc.Listen("unix", path, cfg)
				if err != nil {
					b.Fatal(err)
				}
				ln.Close()
			}
		})
	}
}

// worldDir returns a new directory under the system's temporary directory
// with mode perm, removed after the test.
func worldDir(t testing.TB, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// longDir returns a world-writable directory whose path, with its trailing
// slash, is n bytes long.
func longDir(t *testing.T, n int) string {
	t.Helper()
	base := worldDir(t, 0o700)
	rest := n - len(base) - 2
	if rest < 1 {
		t.Fatalf("the temporary directory %s is too long for a %d byte path", base, n)
	}
	dir := filepath.Join(base, strings.Repeat("d", rest))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir + "/"
}

// staleSocket leaves a socket file nobody listens on at path.
func staleSocket(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	return path
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
