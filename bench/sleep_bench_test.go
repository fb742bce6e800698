package bench

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestSleeperNeverEarly: the open-loop scheduler's sleep never returns
// before its duration has passed (a message is never released early), for
// durations below the quantum, around it and above a millisecond; after
// release it fails with an error instead of sleeping.
func TestSleeperNeverEarly(t *testing.T) {
	sleep, release, err := newSleeper()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Nanosecond, 10 * time.Microsecond, schedQuantum, 300 * time.Microsecond, 2 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			if err := sleep(d); err != nil {
				t.Fatalf("sleep(%v): %v", d, err)
			}
			if got := time.Since(start); got < d {
				t.Fatalf("sleep(%v) returned after %v", d, got)
			}
		}
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		if err := sleep(schedQuantum); err == nil {
			t.Fatal("sleep after release: no error")
		}
	}
}

// BenchmarkSleeper measures how late the open-loop scheduler's sleep
// (sched) wakes from 100 us sleeps, against time.Sleep and the sleepers
// it replaced (baselineSleepers), in an idle process and in a busy one
// (GOMAXPROCS pairs of goroutines handing a value back and forth with a
// little work between, so that every P always has a goroutine to run, as
// the bus has at half its peak). It reports the lateness percentiles
// (late-p50-us, late-p99-us); the scheduler's lateness is part of every
// open-loop latency (SchedP99).
func BenchmarkSleeper(b *testing.B) {
	const d = 100 * time.Microsecond
	for _, busy := range []bool{false, true} {
		sleepers := append([]namedSleeper{
			{"sched", newSleeper},
			{"time.Sleep", func() (func(time.Duration) error, func() error, error) {
				return func(d time.Duration) error { time.Sleep(d); return nil }, func() error { return nil }, nil
			}},
		}, baselineSleepers()...)
		for _, s := range sleepers {
			b.Run(fmt.Sprintf("process=%s/sleeper=%s", map[bool]string{false: "idle", true: "busy"}[busy], s.name), func(b *testing.B) {
				sleep, release, err := s.make()
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = release() }()
				if busy {
					defer keepBusy(runtime.GOMAXPROCS(0))()
				}
				late := &histogram{}
				for b.Loop() {
					start := time.Now()
					if err := sleep(d); err != nil {
						b.Fatal(err)
					}
					late.record(time.Since(start) - d)
				}
				us := func(q float64) float64 { return float64(late.quantile(q)) / float64(time.Microsecond) }
				b.ReportMetric(us(0.5), "late-p50-us")
				b.ReportMetric(us(0.99), "late-p99-us")
			})
		}
	}
}

// A namedSleeper makes a sleeper as newSleeper does.
type namedSleeper struct {
	name string
	make func() (sleep func(time.Duration) error, release func() error, err error)
}

// keepBusy starts pairs pairs of goroutines that hand a value back and
// forth with ~1 us of work a hand-off, until the returned stop is called
// (which waits for them).
func keepBusy(pairs int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range pairs {
		ping, pong := make(chan int), make(chan int)
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				case v := <-ping:
					for i := range 300 {
						v += i * i
					}
					pong <- v
				}
			}
		})
		wg.Go(func() {
			v := 0
			for {
				select {
				case <-done:
					return
				case ping <- v:
				}
				v = <-pong
			}
		})
	}
	return func() { close(done); wg.Wait() }
}
