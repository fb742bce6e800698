package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
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
	Offered  float64 `json:"offered"`  // msgs/s scheduled
	Achieved float64 `json:"achieved"` // msgs/s received, first schedule to last receive
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	P999     float64 `json:"p999_us"`
	Max      float64 `json:"max_us"`
}

// openLoop offers rate msgs/s for dur to inst and measures end-to-end
// latency from each message's scheduled send time to its handler, so
// that a stall delays every message scheduled during it (no coordinated
// omission). One scheduler goroutine releases message i at start +
// i/rate into a queue that never blocks it; pubs goroutines take from the
// queue and publish synchronously, each message stamped with its
// scheduled time. The scheduler sleeps until 1 ms before a send time and
// yields (runtime.Gosched) for the rest, so timer slack does not show up
// as bus latency.
func openLoop(ctx context.Context, inst instance, rec *latencyRecorder, pubs, size int, rate float64, dur time.Duration) (loadResult, error) {
	total := max(int64(rate*dur.Seconds()), 1)
	interval := float64(time.Second) / rate
	h := &histogram{}
	rec.hist.Store(h)
	defer rec.hist.Store(nil)
	base := rec.received.Load()

	queue := make(chan int64, total)
	var wg sync.WaitGroup
	var pubErr atomic.Pointer[error]
	for range pubs {
		wg.Go(func() {
			for sched := range queue {
				payload := make([]byte, max(size, 8))
				binary.LittleEndian.PutUint64(payload, uint64(sched))
				if err := inst.publish(ctx, payload); err != nil {
					pubErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	start := nowNanos() + int64(time.Millisecond)
	for i := range total {
		sched := start + int64(float64(i)*interval)
		for {
			wait := sched - nowNanos()
			if wait <= 0 {
				break
			}
			if wait > int64(time.Millisecond) {
				time.Sleep(time.Duration(wait) - time.Millisecond)
				continue
			}
			runtime.Gosched()
		}
		queue <- sched
	}
	close(queue)
	wg.Wait()
	if p := pubErr.Load(); p != nil {
		return loadResult{}, *p
	}
	if err := rec.waitReceived(base+total, drainTimeout); err != nil {
		return loadResult{}, err
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return loadResult{
		Offered:  rate,
		Achieved: float64(total) / (time.Duration(rec.last.Load() - start)).Seconds(),
		P50:      us(h.quantile(0.50)),
		P99:      us(h.quantile(0.99)),
		P999:     us(h.quantile(0.999)),
		Max:      us(h.quantile(1)),
	}, nil
}
