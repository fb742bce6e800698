package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// palette colours the systems of the plot in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// writeSVG plots, for every system with open-loop runs, latency against
// achieved throughput: p99 solid, p50 dashed, one point per load, both
// axes on a log scale (the systems span three decades of throughput).
func writeSVG(w io.Writer, g *group, title string) error {
	type series struct {
		name        string
		x, p50, p99 []float64
	}
	var all []series
	classes, rows := systemRows(g)
	for _, class := range classes {
		for _, r := range rows[class] {
			var s series
			s.name = r.sys
			for _, pct := range loadPcts(r.s) {
				sfx := fmt.Sprintf("@%d%%", pct)
				x, ok1 := r.s.median("msgs/s" + sfx)
				p50, ok2 := r.s.median("p50-us" + sfx)
				p99, ok3 := r.s.median("p99-us" + sfx)
				if ok1 && ok2 && ok3 && x > 0 {
					s.x, s.p50, s.p99 = append(s.x, x), append(s.p50, max(p50, 0.1)), append(s.p99, max(p99, 0.1))
				}
			}
			if len(s.x) > 0 {
				all = append(all, s)
			}
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("no latency results to plot")
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range all {
		for i := range s.x {
			xmin, xmax = math.Min(xmin, s.x[i]), math.Max(xmax, s.x[i])
			ymin, ymax = math.Min(ymin, s.p50[i]), math.Max(ymax, s.p99[i])
		}
	}
	// Whole decades around the data.
	lx0, lx1 := math.Floor(math.Log10(xmin)), math.Ceil(math.Log10(xmax))
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if lx1 == lx0 {
		lx1++
	}
	if ly1 == ly0 {
		ly1++
	}
	const width, height = 820.0, 520.0
	const left, right, top, bottom = 80.0, 200.0, 40.0, 60.0
	pw, ph := width-left-right, height-top-bottom
	px := func(x float64) float64 { return left + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
	py := func(y float64) float64 { return top + ph - (math.Log10(y)-ly0)/(ly1-ly0)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, escape(title))
	// Grid and ticks: every decade, with 2 and 5 as minor lines.
	for d := lx0; d <= lx1; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > lx1+1e-9 {
				continue
			}
			x := px(v)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, top+ph+18, humanize(v))
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, top, x, top+ph, stroke)
		}
	}
	for d := ly0; d <= ly1; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > ly1+1e-9 {
				continue
			}
			y := py(v)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, humanUS(v))
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", left, y, left+pw, y, stroke)
		}
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">achieved throughput, msgs/s (log)</text>`+"\n", left+pw/2, height-18)
	fmt.Fprintf(&b, `<text transform="translate(20 %.1f) rotate(-90)" text-anchor="middle">end-to-end latency (log)</text>`+"\n", top+ph/2)
	for i, s := range all {
		col := palette[i%len(palette)]
		for _, line := range []struct {
			y    []float64
			dash string
		}{{s.p99, ""}, {s.p50, ` stroke-dasharray="5 4"`}} {
			var pts []string
			for j := range s.x {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.x[j]), py(line.y[j])))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), col, line.dash)
			for j := range s.x {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(s.x[j]), py(line.y[j]), col)
			}
		}
		ly := top + 10 + float64(i)*20
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", left+pw+15, ly, left+pw+40, ly, col)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", left+pw+46, ly+4, escape(s.name))
	}
	ly := top + 20 + float64(len(all))*20
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">solid: p99, dashed: p50</text>`+"\n", left+pw+15, ly)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">points: 10, 50, 90%% of peak</text>`+"\n", left+pw+15, ly+16)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func humanize(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// humanUS formats microseconds.
func humanUS(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%gs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%gms", us/1e3)
	}
	return fmt.Sprintf("%gus", us)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
