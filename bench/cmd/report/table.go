package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// sample is every run of one benchmark case on one system.
type sample struct {
	values map[string][]float64 // unit -> one value per run
}

func (s *sample) median(unit string) (float64, bool) {
	v := s.values[unit]
	if len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

// spread is (max-min)/median of unit, the noise across runs.
func (s *sample) spread(unit string) float64 {
	v := s.values[unit]
	m := median(v)
	if len(v) < 2 || m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / m
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// group is one top-level benchmark laid out as cases x systems.
type group struct {
	bench   string
	systems []string         // in first-seen order
	cases   []string         // "pubs=1 size=64", in first-seen order
	cells   map[cell]*sample // (case, system) -> runs
	runs    map[string]int   // case -> the most runs of any system
}

type cell struct{ caseName, system string }

// groups lays results out per top-level benchmark, in first-seen order.
// The sys key names the system; the other keys, in name order, the case.
func groups(results []result) []*group {
	var out []*group
	byBench := map[string]*group{}
	for _, r := range results {
		g := byBench[r.bench]
		if g == nil {
			g = &group{bench: r.bench, cells: map[cell]*sample{}, runs: map[string]int{}}
			byBench[r.bench] = g
			out = append(out, g)
		}
		sys := r.config["sys"]
		if sys == "" {
			sys = "-"
		}
		var parts []string
		for _, k := range r.keys {
			if k != "sys" {
				parts = append(parts, k+"="+r.config[k])
			}
		}
		caseName := strings.Join(parts, " ")
		if caseName == "" {
			caseName = "-"
		}
		if !slices.Contains(g.systems, sys) {
			g.systems = append(g.systems, sys)
		}
		if !slices.Contains(g.cases, caseName) {
			g.cases = append(g.cases, caseName)
		}
		c := cell{caseName, sys}
		s := g.cells[c]
		if s == nil {
			s = &sample{values: map[string][]float64{}}
			g.cells[c] = s
		}
		for unit, v := range r.values {
			s.values[unit] = append(s.values[unit], v)
		}
		g.runs[caseName] = max(g.runs[caseName], len(s.values["ns/op"]))
	}
	return out
}

// writeGroup writes one markdown table: per case, each system's median
// msgs/s (with its spread) and allocs/op, then subject/other for every
// other system. A benchmark with one system also gets ns/op and B/op.
func writeGroup(w io.Writer, g *group, subject string) {
	cols := []string{"case", "runs"}
	for _, sys := range g.systems {
		cols = append(cols, sys+" msgs/s", sys+" allocs/op")
		if len(g.systems) == 1 {
			cols = append(cols, sys+" ns/op", sys+" B/op")
		}
	}
	var others []string
	if slices.Contains(g.systems, subject) {
		for _, sys := range g.systems {
			if sys != subject {
				others = append(others, sys)
				cols = append(cols, subject+"/"+sys)
			}
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	align := make([]string, len(cols))
	align[0] = "---"
	for i := 1; i < len(align); i++ {
		align[i] = "---:"
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(align, " | "))
	for _, c := range g.cases {
		row := []string{c, strconv.Itoa(g.runs[c])}
		for _, sys := range g.systems {
			s := g.cells[cell{c, sys}]
			row = append(row, rate(s), unitValue(s, "allocs/op"))
			if len(g.systems) == 1 {
				row = append(row, unitValue(s, "ns/op"), unitValue(s, "B/op"))
			}
		}
		for _, o := range others {
			row = append(row, ratio(g.cells[cell{c, subject}], g.cells[cell{c, o}]))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

func rate(s *sample) string {
	if s == nil {
		return "n/a"
	}
	m, ok := s.median("msgs/s")
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%s ±%.0f%%", thousands(m), 100*s.spread("msgs/s")/2)
}

func unitValue(s *sample, unit string) string {
	if s == nil {
		return "n/a"
	}
	m, ok := s.median(unit)
	if !ok {
		return "n/a"
	}
	if m >= 100 || m == math.Trunc(m) {
		return thousands(m)
	}
	return strconv.FormatFloat(m, 'f', 1, 64)
}

func ratio(subject, other *sample) string {
	if subject == nil || other == nil {
		return "n/a"
	}
	a, ok1 := subject.median("msgs/s")
	b, ok2 := other.median("msgs/s")
	if !ok1 || !ok2 || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
