package bench

import "syscall"

// cpuTime is the process's user and system CPU time in nanoseconds. Per
// message (cpu-ns/msg) it stays meaningful on a loaded machine, where
// msgs/s does not: it counts what the system under test and its
// reference spent, not the time other work took.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
