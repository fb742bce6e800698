package dispatch

import (
	"sync"
	"time"

	"github.com/onexbus/onexbus/core"
)

// LatencyBuckets are the upper bounds of the latency histogram in
// milliseconds, the original system's 13 buckets (the last counts the
// dispatches slower than 10 s).
var latencyBuckets = [...]float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// LatencyBuckets returns the upper bounds, in milliseconds, of
// Stats.Latency's buckets; one more bucket counts what is slower.
func LatencyBuckets() []float64 { return append([]float64(nil), latencyBuckets[:]...) }

// Counts are dispatch counts and latencies.
type Counts struct {
	// Dispatches, Successes, NoDispatcher and Errors count dispatches by
	// outcome (Errors: every status but success and no_dispatcher).
	Dispatches, Successes, NoDispatcher, Errors int64
	// Total, Min and Max are latencies; Min and Max are -1 before the
	// first dispatch, as in the original.
	Total, Min, Max time.Duration
	// Latency counts dispatches per bucket of LatencyBuckets, plus one
	// for those above the last bound.
	Latency [len(latencyBuckets) + 1]int64
}

func (c *Counts) add(r *Result) {
	c.Dispatches++
	switch r.Status {
	case StatusSuccess:
		c.Successes++
	case StatusNoDispatcher:
		c.NoDispatcher++
	default:
		c.Errors++
	}
	c.Total += r.Duration
	if c.Min < 0 || r.Duration < c.Min {
		c.Min = r.Duration
	}
	if r.Duration > c.Max {
		c.Max = r.Duration
	}
	ms := float64(r.Duration) / float64(time.Millisecond)
	i := 0
	for i < len(latencyBuckets) && ms > latencyBuckets[i] {
		i++
	}
	c.Latency[i]++
}

// Stats are an engine's counts: all dispatches, and per category and per
// dispatcher (a dispatch counts for each dispatcher that ran).
type Stats struct {
	All          Counts
	ByCategory   map[core.Category]Counts
	ByDispatcher map[string]Counts
}

type stats struct {
	mu sync.Mutex // protects s
	s  Stats
}

func newCounts() Counts { return Counts{Min: -1, Max: -1} }

func (st *stats) init() {
	st.s = Stats{All: newCounts(), ByCategory: map[core.Category]Counts{}, ByDispatcher: map[string]Counts{}}
}

func (st *stats) record(r *Result) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.All.add(r)
	c, ok := st.s.ByCategory[r.Category]
	if !ok {
		c = newCounts()
	}
	c.add(r)
	st.s.ByCategory[r.Category] = c
	for _, id := range r.DispatcherIDs {
		d, ok := st.s.ByDispatcher[id]
		if !ok {
			d = newCounts()
		}
		d.add(r)
		st.s.ByDispatcher[id] = d
	}
}

// Stats returns a copy of the engine's counts.
func (e *Engine) Stats() Stats {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	out := Stats{All: e.stats.s.All, ByCategory: map[core.Category]Counts{}, ByDispatcher: map[string]Counts{}}
	for k, v := range e.stats.s.ByCategory {
		out.ByCategory[k] = v
	}
	for k, v := range e.stats.s.ByDispatcher {
		out.ByDispatcher[k] = v
	}
	return out
}
