package main

import (
	"slices"
	"time"
)

// runResult is one run of one case.
type runResult struct {
	round int
	f     figures
	err   error
	load  float64 // 1-minute load average when it started
	took  time.Duration
}

// results are every run of every case.
type results struct {
	runs map[string][]runResult // case id -> runs in round order
}

func newResults() *results { return &results{runs: map[string][]runResult{}} }

func (r *results) add(id string, round int, f figures, err error, load float64, took time.Duration) {
	r.runs[id] = append(r.runs[id], runResult{round: round, f: f, err: err, load: load, took: took})
}

// series is the figure (name, unit) of case id per round, NaN-free: a
// round whose run failed has no value (ok false at that round).
func (r *results) series(id, name, unit string) map[int]float64 {
	out := map[int]float64{}
	for _, run := range r.runs[id] {
		if run.err != nil {
			continue
		}
		if v, ok := run.f[name][unit]; ok {
			out[run.round] = v
		}
	}
	return out
}

// values is series in round order.
func values(s map[int]float64) []float64 {
	rounds := make([]int, 0, len(s))
	for k := range s {
		rounds = append(rounds, k)
	}
	slices.Sort(rounds)
	out := make([]float64, len(rounds))
	for i, k := range rounds {
		out[i] = s[k]
	}
	return out
}

// paired divides a by b round by round, over the rounds both have.
func paired(a, b map[int]float64) []float64 {
	out := map[int]float64{}
	for k, x := range a {
		if y, ok := b[k]; ok && y != 0 {
			out[k] = x / y
		}
	}
	return values(out)
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// loads is the range of 1-minute load averages at the starts of case
// id's runs.
func (r *results) loads(id string) (lo, hi float64) {
	lo, hi = -1, -1
	for _, run := range r.runs[id] {
		if run.load < 0 {
			continue
		}
		if lo < 0 || run.load < lo {
			lo = run.load
		}
		hi = max(hi, run.load)
	}
	return lo, hi
}
