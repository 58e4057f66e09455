package nodeipc

import "syscall"

// yieldCPU gives the CPU to another thread ready to run on it, if there is
// one (sched_yield(2)). It does not wait, so it is made raw, as the polls
// are (see sysio_raw.go).
func yieldCPU() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
