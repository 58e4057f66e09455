//go:build !windows

package main

import (
	"os"
	"runtime"
	"syscall"
)

// peakRSS returns the peak resident memory of an exited process in MiB.
func peakRSS(ps *os.ProcessState) float64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) / (1 << 20) // bytes on macOS
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}
