package bench

import (
	"runtime"
	"syscall"
	"time"
)

// newSleeper returns the open-loop scheduler's sleep. It locks the
// calling goroutine to its thread for good (the thread ends with the
// goroutine), sets the thread's timer slack to 1 ns (prctl
// PR_SET_TIMERSLACK; the default 50 us would be added to every wake) and
// sleeps with nanosleep(2): the thread blocks in the kernel, taking no
// CPU, and wakes on a high-resolution timer. Go's time.Sleep would wake
// through the runtime's poller, whose sleeps under a millisecond round up
// to one when the process is otherwise idle.
func newSleeper() func(time.Duration) {
	runtime.LockOSThread()
	const prSetTimerSlack = 29
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return func(d time.Duration) {
		ts := syscall.NsecToTimespec(int64(d))
		// An interrupted sleep (EINTR) returns early; the caller
		// loops on the clock.
		_ = syscall.Nanosleep(&ts, nil)
	}
}
