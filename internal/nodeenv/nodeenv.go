// Package nodeenv installs the npm packages that the tests and the benchmark
// run under Node.js: the exact versions of a folder's committed
// package-lock.json, with npm ci and install scripts off, once per checkout.
//
// Several test binaries of one `go test ./...` run at the same time, so an
// install is guarded by a file lock in the folder, and a tree is built in a
// temporary directory beside node_modules and renamed into place only once
// npm has finished: no process ever takes a half-installed tree for a
// complete one.
package nodeenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Interop is the folder, relative to the module root, holding the node-ipc
// releases the interop suite and the benchmark run (peer.mjs, bench.mjs).
const Interop = "interop/node"

// Module is the module path whose go.mod marks the root of a checkout.
const Module = "github.com/effeeea0/nodeipc"

// Tool requirements: the oldest major versions accepted, and the Node.js
// release the suite is tested with. node-ipc 14 declares node >= 22.13 but
// runs on Node.js 20 through its ESM entry.
const (
	MinNodeMajor = 20
	MinNpmMajor  = 7
	TestedNode   = "20.20.2"
)

// NpmArgs are the arguments of the install: exact versions from the lock
// file, no install scripts, and only errors reported (npm's EBADENGINE
// warnings about node-ipc 14's declared engines are not errors).
var NpmArgs = []string{"ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"}

const (
	lockName    = ".nodeenv.lock"     // the file lock of a folder's installs
	stagePrefix = ".nodeenv-install-" // temporary trees, renamed into place when complete
)

// Root returns the root of the checkout: the nearest directory at or above
// the working directory whose go.mod declares Module.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if moduleOf(filepath.Join(dir, "go.mod")) == Module {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no checkout of %s at or above %s: run this inside a clone of the repository", Module, wd)
		}
	}
}

// moduleOf returns the module path a go.mod declares, or "".
func moduleOf(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// Ensure checks that Node.js is usable, installs the packages of the folder
// rel (relative to the checkout's root, such as Interop) unless they are
// installed already, and returns the folder's absolute path. A line goes to
// progress when an install starts or has to wait for another process's.
func Ensure(rel string, progress io.Writer) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, filepath.FromSlash(rel))
	if _, err := NodeVersion(); err != nil {
		return "", err
	}
	if err := Install(dir, progress); err != nil {
		return "", err
	}
	return dir, nil
}

// Install makes dir/node_modules hold every package of dir/package-lock.json
// at its locked version. It returns at once when it does; otherwise it runs
// npm ci (NpmArgs) on a copy of the folder's package.json, lock file and
// .npmrc in a temporary directory inside dir, and renames the finished tree
// to dir/node_modules. The check and the install run under a file lock of
// dir, so concurrent callers, in this process or others, install once and
// all return a complete tree. Errors say what is missing or what npm
// reported.
func Install(dir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("reading the lock file of %s: %w", dir, err)
	}
	want, err := parseLock(lock)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "package-lock.json"), err)
	}
	if len(want) == 0 {
		return nil
	}

	inProcess.Lock()
	defer inProcess.Unlock()
	unlock, err := lockDir(dir, func() {
		fmt.Fprintf(progress, "waiting for another process installing the npm packages of %s\n", dir)
	})
	if err != nil {
		return fmt.Errorf("locking %s: %w", filepath.Join(dir, lockName), err)
	}
	defer unlock()

	if missing(dir, want) == "" {
		return nil
	}
	if _, err := NpmVersion(); err != nil {
		return err
	}
	fmt.Fprintf(progress, "installing the npm packages pinned in %s: npm %s (later runs reuse them)\n",
		filepath.Join(dir, "package-lock.json"), strings.Join(NpmArgs, " "))
	return installLocked(dir, want)
}

// inProcess serializes the callers of one process, whatever the system's
// file locks do within a process.
var inProcess sync.Mutex

// installLocked runs npm ci in a fresh temporary directory and renames its
// tree into place. The caller holds the folder's lock.
func installLocked(dir string, want map[string]pkg) error {
	// Trees of installs that were interrupted are never complete: remove them.
	if old, _ := filepath.Glob(filepath.Join(dir, stagePrefix+"*")); len(old) > 0 {
		for _, o := range old {
			if err := os.RemoveAll(o); err != nil {
				return fmt.Errorf("removing an interrupted install: %w", err)
			}
		}
	}
	stage, err := os.MkdirTemp(dir, stagePrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, name := range []string{"package.json", "package-lock.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && name == ".npmrc" {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o644); err != nil {
			return err
		}
	}
	var out bytes.Buffer
	cmd := exec.Command("npm", NpmArgs...)
	cmd.Dir = stage
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm %s in %s failed (%v):\n%s", strings.Join(NpmArgs, " "), dir, err,
			strings.TrimSpace(out.String()))
	}
	if m := missing(stage, want); m != "" {
		return fmt.Errorf("npm %s in %s finished, but %s%s", strings.Join(NpmArgs, " "), dir, m, omitHint(want))
	}
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Lstat(modules); err == nil {
		if err := os.Rename(modules, filepath.Join(stage, "node_modules.old")); err != nil {
			return fmt.Errorf("moving the incomplete node_modules aside: %w", err)
		}
	}
	if err := os.Rename(filepath.Join(stage, "node_modules"), modules); err != nil {
		return fmt.Errorf("moving the installed packages into place: %w", err)
	}
	return nil
}

// omitHint explains a dev package npm left out.
func omitHint(want map[string]pkg) string {
	for _, p := range want {
		if p.Dev {
			return " (npm leaves out dev packages when NODE_ENV=production or omit=dev is set)"
		}
	}
	return ""
}

// pkg is a package entry of a lock file.
type pkg struct {
	Version  string `json:"version"`
	Dev      bool   `json:"dev"`
	Optional bool   `json:"optional"`
	Link     bool   `json:"link"`
}

// parseLock returns the packages a lock file installs, by path under the
// folder (node_modules/...).
func parseLock(b []byte) (map[string]pkg, error) {
	var l struct {
		Version  int            `json:"lockfileVersion"`
		Packages map[string]pkg `json:"packages"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("not a package-lock.json: %w", err)
	}
	if l.Version < 2 || l.Packages == nil {
		return nil, fmt.Errorf("lockfileVersion %d has no packages section: it needs npm 7 or later to write", l.Version)
	}
	delete(l.Packages, "")
	return l.Packages, nil
}

// missing returns "" when dir/node_modules holds every package of want at
// its version, as npm's record of the tree (node_modules/.package-lock.json,
// written when an install ends) and each package's own package.json say;
// otherwise what is missing. Optional packages (platform-specific ones npm
// may skip) count only when installed.
func missing(dir string, want map[string]pkg) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return "node_modules/.package-lock.json is missing"
	}
	var inst struct {
		Packages map[string]pkg `json:"packages"`
	}
	if json.Unmarshal(b, &inst) != nil {
		return "node_modules/.package-lock.json is not valid JSON"
	}
	for name, p := range want {
		got, ok := inst.Packages[name]
		if !ok && p.Optional {
			continue
		}
		if !ok {
			return name + " is not installed"
		}
		if got.Version != p.Version {
			return fmt.Sprintf("%s is %s, the lock file wants %s", name, got.Version, p.Version)
		}
		if p.Link {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name), "package.json")); err != nil {
			return name + "/package.json is missing"
		}
	}
	return ""
}

// NodeVersion returns the version of node on PATH ("20.20.2"), or an error
// saying what is required when it is missing or older than MinNodeMajor.
func NodeVersion() (string, error) {
	return toolVersion("node", "Node.js", MinNodeMajor,
		fmt.Sprintf("the tests and the benchmark run node-ipc under Node.js %d or later (tested with %s), installed with npm %d or later",
			MinNodeMajor, TestedNode, MinNpmMajor))
}

// NpmVersion returns the version of npm on PATH, or an error saying what is
// required when it is missing or older than MinNpmMajor.
func NpmVersion() (string, error) {
	return toolVersion("npm", "npm", MinNpmMajor,
		fmt.Sprintf("installing the pinned node-ipc packages needs npm %d or later (it comes with Node.js %d or later)",
			MinNpmMajor, MinNodeMajor))
}

func toolVersion(prog, name string, minMajor int, need string) (string, error) {
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH: %s", prog, need)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version failed (%v): %s", path, err, need)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := majorOf(v)
	if err != nil {
		return "", fmt.Errorf("%s --version printed %q: %s", path, out, need)
	}
	if major < minMajor {
		return "", fmt.Errorf("%s %s (%s) is too old: %s", name, v, path, need)
	}
	return v, nil
}

// majorOf returns the major number of a version such as "20.20.2".
func majorOf(v string) (int, error) {
	major, _, _ := strings.Cut(v, ".")
	return strconv.Atoi(major)
}
