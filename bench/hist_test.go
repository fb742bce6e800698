package bench

import (
	"math/bits"
	"sync/atomic"
	"testing"
	"time"
)

// A histogram counts latencies in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two (under 1.6% error), up to 2^40 ns.
// record is safe from any goroutine and does not allocate.
type histogram struct {
	counts [128 + 34*64]atomic.Int64
	n      atomic.Int64
}

func bucketOf(v int64) int {
	if v < 128 {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - 7 // v>>shift is in [64, 128)
	i := 128 + (shift-1)*64 + int(v>>shift) - 64
	return min(i, 128+34*64-1)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	shift := (i-128)/64 + 1
	m := int64((i-128)%64 + 64)
	return m<<shift + 1<<(shift-1)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(int64(d))].Add(1)
	h.n.Add(1)
}

// merge adds o's counts to h. Neither may be recorded into meanwhile.
func (h *histogram) merge(o *histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
}

// quantile returns the smallest bucket value at or above q of the counts.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(bucketValue(len(h.counts) - 1))
}

// TestHistogramMerge: merging per-goroutine histograms gives the
// quantiles of one histogram that recorded everything.
func TestHistogramMerge(t *testing.T) {
	whole, a, b := &histogram{}, &histogram{}, &histogram{}
	for i := range 10_000 {
		d := time.Duration(i*i) * time.Nanosecond
		whole.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	merged := &histogram{}
	merged.merge(a)
	merged.merge(b)
	for _, q := range []float64{0, 0.5, 0.99, 0.999, 1} {
		if got, want := merged.quantile(q), whole.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if merged.n.Load() != 10_000 {
		t.Fatalf("n = %d", merged.n.Load())
	}
}
