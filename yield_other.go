//go:build !linux

package nodeipc

import "runtime"

// yieldCPU yields to the process's other goroutines: where pollers run
// outside Linux, the runtime's yield stands in for sched_yield(2).
func yieldCPU() { runtime.Gosched() }
