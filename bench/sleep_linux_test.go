package bench

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// newSleeper returns the open-loop scheduler's sleep and the func that
// releases it. The sleep arms a timerfd(2) and reads it through the
// runtime's network poller: the goroutine parks, so the P it ran on is
// free at once for the publishers it just released (they were readied
// onto that P), and it wakes when the timer fires, on a high-resolution
// kernel timer with no slack (timerfd is not subject to the thread's
// timer slack): an idle process has an M blocked in epoll, which returns
// then, and a busy one finds it when a P next polls, as it would any
// other input of the process.
//
// Before it, the scheduler slept in nanosleep(2) on a locked thread. A
// syscall keeps its P until sysmon takes it back, so a publisher the
// scheduler had just readied onto that P waited for sysmon (20 us to
// 10 ms) or another P's steal: a trace of the memory bus at 57k msgs/s
// showed publishers waiting 38 us for a P at the median, 2.5 ms at the
// 99th percentile, 140 us on average, a harness cost counted in every
// system's latency. Go's time.Sleep would park too, but wakes an idle
// process through epoll's millisecond timeout: sleeps under a
// millisecond round up to one.
func newSleeper() (sleep func(time.Duration) error, release func() error, err error) {
	const clockMonotonic = 1
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, nil, fmt.Errorf("bench: timerfd_create: %w", errno)
	}
	// A non-blocking descriptor makes a pollable File: Read parks the
	// goroutine in the poller instead of blocking its thread.
	f := os.NewFile(fd, "timerfd")
	var expirations [8]byte
	sleep = func(d time.Duration) error {
		spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(int64(max(d, 1)))}
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
			return fmt.Errorf("bench: timerfd_settime: %w", errno)
		}
		if _, err := f.Read(expirations[:]); err != nil {
			return fmt.Errorf("bench: read timerfd: %w", err)
		}
		return nil
	}
	return sleep, f.Close, nil
}
