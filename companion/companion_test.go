// Package companion holds nodeipc-companion, the Node.js module that gives
// node-ipc 9, 10/12 and 14 programs nodeipc's request/response and
// acknowledged delivery. Its Go test runs the module's own tests (node's test
// runner, test/*.test.mjs) against the node-ipc releases pinned in
// interop/node, so that `go test ./...` covers it.
package companion

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestNodeCompanion runs `node --test` on the module's tests: real node-ipc
// processes with the companion attached, node to node, over Unix sockets
// and TCP.
func TestNodeCompanion(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the companion's tests run node-ipc peers on Unix hosts")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(wd, "..", "interop", "node")
	if err := installNodePackages(nodeDir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		defer cancel()
	}
	files, err := filepath.Glob(filepath.Join("test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test/*.test.mjs files (%v)", err)
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "NODEIPC_INTEROP_NODE="+nodeDir+string(filepath.Separator), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node --test: %v (its output is above)", err)
	}
}

// installNodePackages installs the pinned node-ipc packages of dir from its
// lock file (npm ci, install scripts off) unless the installed tree already
// matches the lock file; the interop suite installs them the same way.
func installNodePackages(dir string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node is not on PATH: the companion's tests need Node.js 20 or later and npm")
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	if inst, err := os.ReadFile(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && lockCovers(lock, inst) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s: %w", dir, err)
	}
	return nil
}

// lockCovers reports whether the installed tree records every package of the
// lock file at the same version.
func lockCovers(lock, installed []byte) bool {
	type pkgs struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	var l, i pkgs
	if json.Unmarshal(lock, &l) != nil || json.Unmarshal(installed, &i) != nil {
		return false
	}
	for name, p := range l.Packages {
		if name != "" && i.Packages[name].Version != p.Version {
			return false
		}
	}
	return true
}
