package bench

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// newSleeper returns the open-loop scheduler's sleep and the func that
// releases it. A sleep is the runtime's own timer (time.Sleep until the
// deadline) with an alarm behind it: a timerfd(2), armed for the same
// deadline plus alarmMargin and registered in the runtime's network
// poller, that no goroutine waits on. Each covers the other's blind spot:
//
//   - A busy process (every P running goroutines, as the bus is at half
//     its peak) looks at its network poller only when a P runs out of
//     work or sysmon polls, every 10 ms at most: a goroutine reading the
//     timerfd, as the scheduler did before, woke 15-20 ms late at the
//     median (40-145 ms at the 99th percentile) when 2 Ps were kept busy
//     (BenchmarkSleeper on this project's 2-core VM, 100 us sleeps, load
//     3-5). The runtime
//     checks its timers at every goroutine switch, so the timer fires
//     within a microsecond or two there.
//   - An idle process blocks one thread in epoll_wait with the timer's
//     delay in whole milliseconds (runtime/netpoll_epoll.go rounds any
//     delay under 1 ms up to 1 ms): time.Sleep alone wakes an idle
//     process 1 ms late. The alarm's expiry is an event on that epoll, so
//     the thread returns at the deadline (plus alarmMargin), finds the
//     timer due and runs the scheduler. Idle, that is 65-72 us late at
//     the median against 52 us for a goroutine reading the timerfd (most
//     of both is this VM's wake from idle; the rest the margin and the
//     run of the timer by the P that finds it), p99 0.14-0.6 ms against
//     0.16-0.2 ms.
//
// The alarm fires alarmMargin after the deadline so that the timer is
// due when the poller returns (were it a few hundred nanoseconds early,
// the runtime would go back to epoll_wait for a whole millisecond), and
// so that, in a busy process, the next sleep re-arms it before it fires:
// an expiring timer interrupts whatever the core runs (firing with the
// timer cost 18-23 us of lateness at the median in a busy process; 5 us
// later, none).
//
// Before the timerfd, the scheduler slept in nanosleep(2) on a locked
// thread. A syscall keeps its P until sysmon takes it back, so a
// publisher the scheduler had just readied onto that P waited for sysmon
// (20 us to 10 ms) or another P's steal.
func newSleeper() (sleep func(time.Duration) error, release func() error, err error) {
	const clockMonotonic = 1
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, nil, fmt.Errorf("bench: timerfd_create: %w", errno)
	}
	// A non-blocking descriptor makes a pollable File: it is registered
	// in the runtime's epoll, so its expiry wakes an idle poller. No
	// goroutine waits on it; the sleep reads it without the poller.
	f := os.NewFile(fd, "timerfd")
	sleep = func(d time.Duration) error {
		deadline := nowNanos() + int64(d)
		spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(int64(max(d, 1) + alarmMargin))}
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
			return fmt.Errorf("bench: timerfd_settime: %w", errno)
		}
		// Arming a near timer takes ~6 us here (it reprograms the
		// core's timer); the sleep ends at the deadline all the same.
		time.Sleep(time.Duration(deadline - nowNanos()))
		// Take the expirations (EAGAIN: the timer woke the sleep before
		// the alarm fired). Left unread, some later expiries did not wake
		// the poller: an idle process then slept a whole millisecond
		// more (BenchmarkSleeper process=idle: 2-6% of the sleeps, p99
		// 1.1-2.0 ms; read, 138-224 us).
		var expirations [8]byte
		if _, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&expirations[0])), uintptr(len(expirations))); errno != 0 && errno != syscall.EAGAIN {
			return fmt.Errorf("bench: read timerfd: %w", errno)
		}
		return nil
	}
	return sleep, f.Close, nil
}

// alarmMargin is how long after a sleep's deadline its alarm fires
// (newSleeper).
const alarmMargin = 5 * time.Microsecond

// baselineSleepers are the sleepers newSleeper replaced, for
// BenchmarkSleeper: "timerfd-read" read the timerfd through the poller
// (until 2026-12-01 session 7), which a busy process polls only when a P
// runs out of work or every 10 ms from sysmon.
func baselineSleepers() []namedSleeper {
	return []namedSleeper{{"timerfd-read", func() (func(time.Duration) error, func() error, error) {
		const clockMonotonic = 1
		fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if errno != 0 {
			return nil, nil, fmt.Errorf("bench: timerfd_create: %w", errno)
		}
		f := os.NewFile(fd, "timerfd")
		var expirations [8]byte
		return func(d time.Duration) error {
			spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(int64(max(d, 1)))}
			if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
				return fmt.Errorf("bench: timerfd_settime: %w", errno)
			}
			if _, err := f.Read(expirations[:]); err != nil {
				return fmt.Errorf("bench: read timerfd: %w", err)
			}
			return nil
		}, f.Close, nil
	}}}
}
