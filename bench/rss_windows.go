//go:build windows

package main

import (
	"os"
	"syscall"
	"time"
)

// peakRSS is not measured on Windows.
func peakRSS(*os.ProcessState) float64 { return 0 }

// selfCPU returns the user+system CPU time this process has used so far.
func selfCPU() time.Duration {
	var creation, exit, kernel, user syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	if err != nil || syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user) != nil {
		return 0
	}
	// Filetimes of durations count 100 ns units.
	k := int64(kernel.HighDateTime)<<32 | int64(kernel.LowDateTime)
	u := int64(user.HighDateTime)<<32 | int64(user.LowDateTime)
	return time.Duration((k + u) * 100)
}

// selfRSSKiB is not measured on Windows.
func selfRSSKiB() int64 { return 0 }

// fdLimit is not a limit on Windows; 0 means unknown.
func fdLimit() uint64 { return 0 }
