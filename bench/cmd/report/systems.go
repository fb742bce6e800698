package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// systemsBench is the benchmark whose cases are child processes, one per
// system, reporting peak throughput, peak memory and open-loop latency.
const systemsBench = "Systems"

// sysRow is one system of the Systems benchmark.
type sysRow struct {
	class, sys string
	s          *sample
}

// systemRows lays out the Systems results: per class, its systems in
// first-seen order, except that the subject (the first system whose name
// starts with "onexbus") comes first.
func systemRows(g *group) (classes []string, rows map[string][]sysRow) {
	rows = map[string][]sysRow{}
	for _, c := range g.cases {
		class := strings.TrimPrefix(c, "class=")
		for _, sys := range g.systems {
			s := g.cells[cell{c, sys}]
			if s == nil {
				continue
			}
			if !slices.Contains(classes, class) {
				classes = append(classes, class)
			}
			rows[class] = append(rows[class], sysRow{class, sys, s})
		}
	}
	for _, rs := range rows {
		if i := slices.IndexFunc(rs, func(r sysRow) bool { return strings.HasPrefix(r.sys, "onexbus") }); i > 0 {
			subj := rs[i]
			copy(rs[1:i+1], rs[:i])
			rs[0] = subj
		}
	}
	return classes, rows
}

// loadPcts returns the loads (the n of "@n%") s has latency for, in
// increasing order.
func loadPcts(s *sample) []int {
	var out []int
	for unit := range s.values {
		if rest, ok := strings.CutPrefix(unit, "p99-us@"); ok {
			if !strings.HasSuffix(rest, "%") {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSuffix(rest, "%")); err == nil {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// writeSystems writes the memory table (every system) and the latency
// table (systems with open-loop runs), each with the subject of the
// class divided by every other system of the class.
func writeSystems(w io.Writer, g *group) {
	classes, rows := systemRows(g)
	fmt.Fprintf(w, "\n## Peak memory (one child process per system, %d-byte messages)\n\n", 256)
	fmt.Fprintf(w, "Peak RSS is the child's VmHWM and peak heap the most Go heap object bytes sampled every 5 ms, "+
		"both over the peak phase: msgs messages from the system's publishers as fast as they go (the figure in peak msgs/s). "+
		"x subject is the system's figure over the class subject's (its first row, onexbus).\n\n")
	fmt.Fprintf(w, "| class | system | runs | msgs | peak msgs/s | peak RSS MB | peak heap MB | RSS x subject | heap x subject | msgs/s x subject |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, class := range classes {
		subj := rows[class][0].s
		for _, r := range rows[class] {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", class, r.sys, len(r.s.values["peak-msgs/s"]),
				unitValue(r.s, "msgs"), rateOf(r.s, "peak-msgs/s"), unitValue(r.s, "peak-rss-MB"), unitValue(r.s, "peak-heap-MB"),
				ratioOf(r.s, subj, "peak-rss-MB"), ratioOf(r.s, subj, "peak-heap-MB"), ratioOf(r.s, subj, "peak-msgs/s"))
		}
	}
	fmt.Fprintf(w, "\n## End-to-end latency, open loop (%d-byte messages)\n\n", 256)
	fmt.Fprintf(w, "Each load offers a fixed rate (a percentage of the system's own peak msgs/s above) for the run's duration; "+
		"latency runs from each message's scheduled send time to its handler, so a stall delays everything scheduled during it. "+
		"The scheduler sleeps between sends (it takes no core); sched p99 is its own lateness, part of every latency, and the bare channel (chan) at the equal rates below is its floor. "+
		"Median of the runs, in microseconds. subject/X is the class subject's p99 over the system's at the same load (below 1: the subject is faster); "+
		"shares of different peaks are different rates, so compare systems at the equal rates of the next table.\n\n")
	fmt.Fprintf(w, "| class | system | load | offered msgs/s | achieved msgs/s | p50 us | p99 us | p99.9 us | sched p99 us | subject/X p99 |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, class := range classes {
		subj := rows[class][0].s
		for _, r := range rows[class] {
			for _, pct := range loadPcts(r.s) {
				writeLoadRow(w, class, r, subj, fmt.Sprintf("%d%%", pct))
			}
		}
	}
	fmt.Fprintf(w, "\n## End-to-end latency at equal offered rates (%d-byte messages)\n\n", 256)
	fmt.Fprintf(w, "Every latency system of a class at the same offered rates (msgs/s), as in the table above otherwise.\n\n")
	fmt.Fprintf(w, "| class | system | load | offered msgs/s | achieved msgs/s | p50 us | p99 us | p99.9 us | sched p99 us | subject/X p99 |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, class := range classes {
		subj := rows[class][0].s
		var rates []int
		for _, r := range rows[class] {
			for _, rate := range loadRates(r.s) {
				if !slices.Contains(rates, rate) {
					rates = append(rates, rate)
				}
			}
		}
		slices.Sort(rates)
		for _, rate := range rates {
			for _, r := range rows[class] {
				if slices.Contains(loadRates(r.s), rate) {
					writeLoadRow(w, class, r, subj, fmt.Sprintf("r%d", rate))
				}
			}
		}
	}
}

// writeLoadRow writes r's latency row at the load labelled label ("50%"
// or "r5000").
func writeLoadRow(w io.Writer, class string, r sysRow, subj *sample, label string) {
	sfx := "@" + label
	rel := "-"
	if r.s != subj {
		rel = ratioOf(subj, r.s, "p99-us"+sfx)
	}
	load := label
	if rate, ok := strings.CutPrefix(label, "r"); ok {
		n, _ := strconv.Atoi(rate)
		load = thousands(float64(n)) + "/s"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", class, r.sys, load,
		unitValue(r.s, "offered-msgs/s"+sfx), unitValue(r.s, "msgs/s"+sfx),
		unitValue(r.s, "p50-us"+sfx), unitValue(r.s, "p99-us"+sfx), unitValue(r.s, "p99.9-us"+sfx),
		unitValue(r.s, "sched-p99-us"+sfx), rel)
}

// loadRates returns the equal offered rates (the n of "@rn") s has
// latency for, in increasing order.
func loadRates(s *sample) []int {
	var out []int
	for unit := range s.values {
		if rest, ok := strings.CutPrefix(unit, "p99-us@r"); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

func rateOf(s *sample, unit string) string {
	m, ok := s.median(unit)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%s ±%.0f%%", thousands(m), 100*s.spread(unit)/2)
}

// ratioOf is a's median of unit over b's.
func ratioOf(a, b *sample, unit string) string {
	x, ok1 := a.median(unit)
	y, ok2 := b.median(unit)
	if !ok1 || !ok2 || y == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", x/y)
}
