package nodeipc

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// DefaultSocketRoot returns node-ipc 14's socket root: on Unix
// $XDG_RUNTIME_DIR/node-ipc/ when that is set, else <tmp>/node-ipc-<uid>/;
// on Windows the logical /node-ipc-<user>/, which the pipe name rule turns
// into a \\.\pipe\node-ipc-<user>-... name.
func DefaultSocketRoot() string {
	if runtime.GOOS == "windows" {
		return "/node-ipc-" + sanitizeUser(currentUserName()) + "/"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "node-ipc") + "/"
	}
	id := strconv.Itoa(os.Getuid())
	if os.Getuid() < 0 {
		id = sanitizeUser(currentUserName())
	}
	return filepath.Join(os.TempDir(), "node-ipc-"+id) + "/"
}

func currentUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		name := u.Username
		if i := strings.LastIndexAny(name, `\/`); i >= 0 {
			name = name[i+1:]
		}
		return name
	}
	for _, k := range []string{"USERNAME", "USER"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "user"
}

// sanitizeUser keeps [A-Za-z0-9_.-] and turns anything else into '_'.
func sanitizeUser(name string) string {
	if name == "" {
		return "user"
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// PipeName maps a node-ipc local path to a Windows named pipe name as
// node-ipc does: strip one leading '/', turn every other '/' into '-', and
// prefix \\.\pipe\. A name that already starts with \\.\pipe\ is kept (on
// both the client and the server side; node-ipc's server mangles it).
func PipeName(path string) string {
	const prefix = `\\.\pipe\`
	if strings.HasPrefix(path, prefix) || strings.HasPrefix(path, `//./pipe/`) {
		return prefix + path[len(prefix):]
	}
	path = strings.TrimPrefix(path, "/")
	return prefix + strings.ReplaceAll(path, "/", "-")
}

// LocalPath is the local endpoint Serve and ConnectTo use for id: SocketRoot
// + AppSpace + id (a named pipe made from it on Windows).
func (c *Config) LocalPath(id string) string {
	return c.SocketRoot + c.AppSpace + id
}
