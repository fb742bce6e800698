package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// epoch is the origin of the monotonic nanosecond stamps that messages
// carry in their first 8 bytes.
var epoch = time.Now()

func nowNanos() int64 { return int64(time.Since(epoch)) }

// latencyRecorder is the subscriber side of an open-loop run: every
// message that carries a stamp (non-zero first 8 bytes) records now minus
// its stamp, the time it was scheduled to be sent.
type latencyRecorder struct {
	hist     atomic.Pointer[histogram]
	received atomic.Int64
	last     atomic.Int64 // nowNanos of the latest receive
}

func (r *latencyRecorder) handled(payload []byte) {
	now := nowNanos()
	r.received.Add(1)
	r.last.Store(now)
	if len(payload) < 8 {
		return
	}
	if sched := int64(binary.LittleEndian.Uint64(payload)); sched != 0 {
		if h := r.hist.Load(); h != nil {
			h.record(time.Duration(now - sched))
		}
	}
}

// waitReceived waits until r has received want messages.
func (r *latencyRecorder) waitReceived(want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for r.received.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("received %d of %d messages in %v", r.received.Load(), want, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// loadResult is one open-loop run at a fixed offered rate.
type loadResult struct {
	// Label names the load: "50%" (a share of the system's own peak) or
	// "r5000" (an offered rate shared by the systems of its class).
	Label    string  `json:"label"`
	Offered  float64 `json:"offered"`  // msgs/s scheduled
	Achieved float64 `json:"achieved"` // msgs/s received, first schedule to last receive
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	P999     float64 `json:"p999_us"`
	Max      float64 `json:"max_us"`
	// SchedP99 is the 99th percentile of the scheduler's own lateness:
	// how long after its send time each message was handed to a
	// publisher. It is part of every latency above.
	SchedP99 float64 `json:"sched_p99_us"`
	// PubP50 and PubP99 are the percentiles of the time from each
	// message's scheduled send to the return of its publish call: the
	// publish side of the latency above (for a synchronous durable
	// publish, the wait in the queue plus the commit holding it); the
	// rest is the delivery to the handler.
	PubP50 float64 `json:"pub_p50_us"`
	PubP99 float64 `json:"pub_p99_us"`
	// Pubs is how many publishers the run used: the pool's size, or for
	// an elastic pool the most it grew to (at its cap, due messages
	// waited in the harness's queue).
	Pubs int `json:"pubs"`
	// CPUPerMsg is the process's CPU time (user and system: the system
	// under test, the scheduler, the publishers and the recorder) per
	// message, from the first send to the last receive: unlike the
	// percentiles it hardly depends on other work on the machine, and
	// against the closed-loop peak's it shows what an open loop's smaller
	// batches and extra wake-ups cost.
	CPUPerMsg float64 `json:"cpu_ns_per_msg"`
}

// senders is how an open-loop run hands its messages to the system: n
// publisher goroutines from the start, and, for an elastic pool (max >
// n), another whenever a message is due and no publisher is idle, up to
// max. A fixed pool (max <= n) models n clients that each send one
// message at a time; an elastic pool models independent clients, or a
// server with a handler goroutine per request: a message is handed to
// the system when it is due, not when one of n publishers comes back.
type senders struct {
	n   int // publishers started with the run
	max int // the most publishers; at most n: a fixed pool of n
}

// fixedSenders is a fixed pool of n publishers.
func fixedSenders(n int) senders { return senders{n: n, max: n} }

// elastic reports whether the pool grows.
func (s senders) elastic() bool { return s.max > s.n }

// grow is how many publishers an elastic pool starts when queued
// messages are due, idle publishers wait for one and started of at most
// limit are running: one for every due message no idle publisher will
// take, within the cap.
func grow(queued, idle, started, limit int) int {
	return max(min(queued-idle, limit-started), 0)
}

// openLoop offers rate msgs/s for dur to inst and measures end-to-end
// latency from each message's scheduled send time to its handler, so
// that a stall delays every message scheduled during it (no coordinated
// omission). One scheduler goroutine releases message i at start +
// i/rate into a queue that never blocks it; the publishers of pool take
// from the queue and publish, each message stamped with its scheduled
// time. An elastic pool grows from the scheduler: after a release, one
// more publisher for every released message that no idle publisher will
// take (grow), so that a message waits in the queue only while the pool
// is at its cap.
//
// The scheduler sleeps until the next send time, but never less than
// schedQuantum (newSleeper: the runtime's timer with a kernel alarm behind
// it for an idle process, not a spin), and then releases every message that is due, so it takes almost
// no core from the system under test; its
// lateness (the timer, descheduling) counts in the latency and is
// reported on its own (SchedP99). The bare channel's rows (sys=chan)
// show the floor this scheduler gives.
func openLoop(ctx context.Context, inst instance, rec *latencyRecorder, pool senders, size int, rate float64, dur time.Duration) (loadResult, error) {
	total := max(int64(rate*dur.Seconds()), 1)
	interval := float64(time.Second) / rate
	h := &histogram{}
	late := &histogram{}
	rec.hist.Store(h)
	defer rec.hist.Store(nil)
	base := rec.received.Load()
	cpu0 := cpuTime()

	queue := make(chan int64, total)
	var wg sync.WaitGroup
	var pubErr atomic.Pointer[error]
	// idle counts the publishers waiting for a message: an elastic pool
	// grows only when the due messages outnumber them.
	var idle atomic.Int64
	// Each publisher records into a histogram of its own, merged after
	// the run: one shared histogram's count was a cache line that every
	// publisher's core wrote for every message. The scheduler goroutine
	// starts the publishers an elastic pool adds and appends their
	// histograms; they are read after it has finished.
	var pubHists []*histogram
	startPublisher := func() {
		pubLat := &histogram{}
		pubHists = append(pubHists, pubLat)
		idle.Add(1) // from now on, until it takes a message
		wg.Go(func() {
			for sched := range queue {
				idle.Add(-1)
				payload := make([]byte, max(size, 8))
				binary.LittleEndian.PutUint64(payload, uint64(sched))
				if err := inst.publish(ctx, payload); err != nil {
					pubErr.CompareAndSwap(nil, &err)
					return
				}
				pubLat.record(time.Duration(nowNanos() - sched))
				idle.Add(1)
			}
		})
	}
	sleep, release, err := newSleeper()
	if err != nil {
		return loadResult{}, err
	}
	defer func() { _ = release() }()
	for range max(pool.n, 1) {
		startPublisher()
	}
	start := nowNanos() + int64(time.Millisecond)
	schedOf := func(i int64) int64 { return start + int64(float64(i)*interval) }
	released := make(chan struct{})
	var sleepErr error
	go func() {
		defer close(released)
		defer close(queue)
		for i := int64(0); i < total; {
			now := nowNanos()
			if wait := schedOf(i) - now; wait > 0 {
				if sleepErr = sleep(max(time.Duration(wait), schedQuantum)); sleepErr != nil {
					return
				}
				continue
			}
			for ; i < total && schedOf(i) <= now; i++ {
				late.record(time.Duration(now - schedOf(i)))
				queue <- schedOf(i)
			}
			if pool.elastic() && pubErr.Load() == nil {
				for range grow(len(queue), int(idle.Load()), len(pubHists), pool.max) {
					startPublisher()
				}
			}
		}
	}()
	<-released
	wg.Wait()
	pubLat := &histogram{}
	for _, ph := range pubHists {
		pubLat.merge(ph)
	}
	if sleepErr != nil {
		return loadResult{}, sleepErr
	}
	if p := pubErr.Load(); p != nil {
		return loadResult{}, *p
	}
	if f, ok := inst.(flusher); ok {
		if err := f.flush(ctx); err != nil {
			return loadResult{}, err
		}
	}
	if err := rec.waitReceived(base+total, drainTimeout); err != nil {
		return loadResult{}, err
	}
	cpu := cpuTime() - cpu0
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return loadResult{
		Offered:  rate,
		Achieved: float64(total) / (time.Duration(rec.last.Load() - start)).Seconds(),
		P50:      us(h.quantile(0.50)),
		P99:      us(h.quantile(0.99)),
		P999:     us(h.quantile(0.999)),
		Max:      us(h.quantile(1)),
		SchedP99: us(late.quantile(0.99)),
		PubP50:   us(pubLat.quantile(0.50)),
		PubP99:   us(pubLat.quantile(0.99)),
		Pubs:     len(pubHists),
		// The warm-up and the recorder's drain poll are in it too: a
		// few microseconds a run.
		CPUPerMsg: float64(cpu) / float64(total),
	}, nil
}

// schedQuantum is the scheduler's shortest sleep. Each sleep is a
// syscall and a timer wake-up, about 2.5 us of CPU on this project's
// 2-core VM (measured: 0.53 s of CPU for 200,000 sleeps at 100,000
// msgs/s): sleeping until every single send time took half a core at
// 250,000 msgs/s from the system under test. With the quantum the
// scheduler wakes at most 20,000 times a second and releases what is due
// in a burst; the up to 50 us it adds to a message's wait counts in its
// latency (and in SchedP99), like any other lateness.
const schedQuantum = 50 * time.Microsecond

// A flusher is an instance whose publish may return before the message
// is accepted (an asynchronous producer): flush waits until every
// published message has its outcome and returns the first error.
type flusher interface {
	flush(ctx context.Context) error
}
