package nodeenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installEnv makes the test binary an installing process: it installs the
// folder named by this variable and exits.
const installEnv = "NODEENV_TEST_INSTALL"

func TestMain(m *testing.M) {
	if dir := os.Getenv(installEnv); dir != "" {
		if err := Install(dir, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// folder copies the interop folder's package files into a new directory,
// with nothing installed.
func folder(t *testing.T) (string, map[string]pkg) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(root, Interop, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lock, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	want, err := parseLock(lock)
	if err != nil || len(want) == 0 {
		t.Fatalf("interop lock file: %d packages, %v", len(want), err)
	}
	return dir, want
}

// leftovers lists what an install left in dir besides the package files,
// node_modules and the lock file.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		switch e.Name() {
		case "package.json", "package-lock.json", ".npmrc", "node_modules", lockName:
		default:
			extra = append(extra, e.Name())
		}
	}
	return extra
}

// TestProcessesStartingTogetherInstallOnce starts three processes that
// install one folder at the same moment: each returns a complete tree, and
// only one of them runs npm.
func TestProcessesStartingTogetherInstallOnce(t *testing.T) {
	dir, want := folder(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		outs[i] = new(bytes.Buffer)
		cmds[i] = exec.Command(self, "-test.run=^$")
		cmds[i].Env = append(os.Environ(), installEnv+"="+dir)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	installs := 0
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if strings.HasPrefix(line, "installing ") {
				installs++
			}
		}
		t.Logf("process %d: %q", i, outs[i])
	}
	if installs != 1 {
		t.Errorf("%d processes ran npm, want 1", installs)
	}
	if m := missing(dir, want); m != "" {
		t.Errorf("after the installs: %s", m)
	}
	if extra := leftovers(t, dir); len(extra) > 0 {
		t.Errorf("left behind: %q", extra)
	}
}

// TestIncompleteTreeIsReplaced damages an installed tree in the ways an
// interrupted or outdated install leaves it and checks that each counts as
// incomplete; then that Install installs again over an interrupted install,
// removing the temporary tree it left, and does nothing to a complete tree.
func TestIncompleteTreeIsReplaced(t *testing.T) {
	dir, want := folder(t)
	if err := Install(dir, nil); err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(dir, "node_modules")
	record := filepath.Join(modules, ".package-lock.json")
	aside := filepath.Join(t.TempDir(), "aside")
	moveAside := func(path string) func() (func() error, error) {
		return func() (func() error, error) {
			return func() error { return os.Rename(aside, path) }, os.Rename(path, aside)
		}
	}
	cases := []struct {
		name   string
		damage func() (restore func() error, err error)
	}{
		{"a package's files are gone", moveAside(filepath.Join(modules, "node-ipc14"))},
		{"npm's record of the tree is missing (an interrupted npm)", moveAside(record)},
		{"the tree holds another version than the lock file", func() (func() error, error) {
			b, err := os.ReadFile(record)
			if err != nil {
				return nil, err
			}
			restore := func() error { return os.WriteFile(record, b, 0o644) }
			other := bytes.Replace(b, []byte(`"version": "14.0.0"`), []byte(`"version": "14.0.1"`), 1)
			return restore, os.WriteFile(record, other, 0o644)
		}},
		{"npm's record is not JSON", func() (func() error, error) {
			b, err := os.ReadFile(record)
			if err != nil {
				return nil, err
			}
			restore := func() error { return os.WriteFile(record, b, 0o644) }
			return restore, os.WriteFile(record, b[:len(b)/2], 0o644)
		}},
	}
	for _, c := range cases {
		restore, err := c.damage()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if missing(dir, want) == "" {
			t.Errorf("%s: the tree counts as complete", c.name)
		}
		if err := restore(); err != nil {
			t.Fatalf("%s: restoring: %v", c.name, err)
		}
		if m := missing(dir, want); m != "" {
			t.Fatalf("%s: restored, the tree is incomplete: %s", c.name, m)
		}
	}

	// An install interrupted after npm began: its temporary tree is left
	// and the tree in place lacks a package.
	if err := os.MkdirAll(filepath.Join(dir, stagePrefix+"interrupted", "node_modules", "node-ipc14"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(modules, "node-ipc9")); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if err := Install(dir, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(progress.String(), "installing ") {
		t.Errorf("no install reported: %q", progress.String())
	}
	if m := missing(dir, want); m != "" {
		t.Errorf("after the install: %s", m)
	}
	if extra := leftovers(t, dir); len(extra) > 0 {
		t.Errorf("left behind: %q", extra)
	}
	progress.Reset()
	if err := Install(dir, &progress); err != nil || progress.Len() > 0 {
		t.Errorf("complete tree: Install printed %q, returned %v; want nothing", progress.String(), err)
	}
}

// TestMissingToolsSayWhatIsRequired runs with an empty PATH: Ensure and
// Install refuse, naming the tool and the versions required.
func TestMissingToolsSayWhatIsRequired(t *testing.T) {
	dir, _ := folder(t)
	t.Setenv("PATH", t.TempDir())
	_, err := Ensure(Interop, nil)
	if err == nil || !strings.Contains(err.Error(), "node is not on PATH") ||
		!strings.Contains(err.Error(), fmt.Sprintf("Node.js %d or later", MinNodeMajor)) {
		t.Errorf("Ensure without node: %v", err)
	}
	err = Install(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "npm is not on PATH") ||
		!strings.Contains(err.Error(), fmt.Sprintf("npm %d or later", MinNpmMajor)) {
		t.Errorf("Install without npm: %v", err)
	}
	if extra := leftovers(t, dir); len(extra) > 0 {
		t.Errorf("left behind: %q", extra)
	}
}

// TestVersionsAreCheckedByMajor reads the major numbers node and npm print.
func TestVersionsAreCheckedByMajor(t *testing.T) {
	for v, want := range map[string]int{"20.20.2": 20, "7.0.0": 7, "22": 22, "18.19.1-nightly": 18} {
		if got, err := majorOf(v); err != nil || got != want {
			t.Errorf("majorOf(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	if _, err := majorOf("x.1"); err == nil {
		t.Error("majorOf(x.1) did not fail")
	}
}
