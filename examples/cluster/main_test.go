//go:build unix

package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// The example runs as a real primary with real worker processes; more than
// one worker must answer.
func TestClusterExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cluster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "nipc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().String()
	probe.Close()
	for name, args := range map[string][]string{
		"socket": {"-path", filepath.Join(dir, "c.sock"), "-clients", "32"},
		"tcp":    {"-tcp", port, "-clients", "32"},
	} {
		t.Run(name, func(t *testing.T) {
			// Every run must answer all clients. Which worker accepts is the
			// kernel's choice (on a shared Unix socket, whichever is
			// waiting first), so a run may see one worker take them all;
			// a few runs must show more than one.
			var out []byte
			for range 5 {
				out = runExample(t, bin, args)
				if regexp.MustCompile(`32 clients answered by [2-9] workers`).Match(out) {
					return
				}
			}
			t.Fatalf("in 5 runs no more than one worker answered:\n%s", out)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "c.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

func runExample(t *testing.T, bin string, args []string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Workers share the output pipe; never wait on it for long after the
	// primary has exited. On a timeout the primary and its workers, one
	// process group, are killed together.
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("timed out:\n%s", out.Bytes())
	}
	if err != nil || !regexp.MustCompile(`(?m)^32 clients answered by`).Match(out.Bytes()) {
		t.Fatalf("%v\n%s", err, out.Bytes())
	}
	return out.Bytes()
}
