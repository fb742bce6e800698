// Command report summarises `go test -bench` output of the bench module as
// a markdown report: per benchmark, a table of cases x systems with the
// median msgs/s of the runs (± half the min-max spread), the median
// allocs/op, and the subject's throughput over each other system's.
//
// Usage:
//
//	report [-o latest.md] [-subject onexbus] [-cmd "..."] [-mode full] [bench.txt]
//
// It reads standard input when no file is named, and fails when the output
// holds no results or reports a failure, so that a make target piping
// go test through tee still fails.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run1(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run1(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	outPath := fs.String("o", "", "write the markdown here (default: standard output)")
	subject := fs.String("subject", "onexbus", "the system whose throughput is divided by each other system's")
	cmd := fs.String("cmd", "", "the command that produced the input, recorded in the report")
	mode := fs.String("mode", "", "the run's mode (full, quick), recorded in the report")
	rev := fs.String("rev", "", "the library revision measured (git describe --dirty), recorded in the report")
	svgPath := fs.String("svg", "", "also write the latency-throughput plot of the Systems benchmark here")
	readme := fs.String("readme", "", "also replace the text between the bench-peers markers of this README with the tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	source := "standard input"
	if fs.NArg() > 1 {
		return fmt.Errorf("at most one input file, got %d", fs.NArg())
	}
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in, source = f, fs.Arg(0)
	}
	r, err := parse(in)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if !r.passed {
		return fmt.Errorf("%s: the benchmark run failed or did not finish", source)
	}
	if len(r.results) == 0 {
		return fmt.Errorf("%s: no benchmark results", source)
	}
	m := meta{subject: *subject, cmd: *cmd, mode: *mode, rev: *rev, source: source, now: time.Now().UTC(), load: loadAvg(), machine: machine()}
	var buf bytes.Buffer
	write(&buf, r, m)
	if *svgPath != "" {
		var svg bytes.Buffer
		var sys *group
		for _, g := range groups(r.results) {
			if g.bench == systemsBench {
				sys = g
			}
		}
		if sys == nil {
			return fmt.Errorf("%s: no %s results to plot", source, systemsBench)
		}
		title := fmt.Sprintf("onexbus and peers: latency vs throughput (%s, %s)", m.now.Format("2006-01-02"), m.machine)
		if err := writeSVG(&svg, sys, title); err != nil {
			return err
		}
		if err := os.WriteFile(*svgPath, svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if *readme != "" {
		if err := updateReadme(*readme, r, m); err != nil {
			return err
		}
	}
	if *outPath == "" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(*outPath, buf.Bytes(), 0o644)
}

// README markers: updateReadme replaces what lies between them.
const (
	readmeStart = "<!-- bench-peers:start -->"
	readmeEnd   = "<!-- bench-peers:end -->"
)

// updateReadme replaces the text between the markers of the README at
// path with the run's date, machine and tables.
func updateReadme(path string, r *run, m meta) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(b)
	i, j := strings.Index(text, readmeStart), strings.Index(text, readmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s markers", path, readmeStart, readmeEnd)
	}
	var sec bytes.Buffer
	fmt.Fprintf(&sec, "%s\n\nMeasured %s on %s (load average %s), %s mode, library revision %s, with `make bench-peers`. "+
		"Full report: [bench/results/latest.md](bench/results/latest.md); plot: [bench/results/latency.svg](bench/results/latency.svg).\n",
		readmeStart, m.now.Format("2006-01-02"), m.machine, m.load, m.mode, m.rev)
	for _, g := range groups(r.results) {
		if g.bench == systemsBench {
			var t bytes.Buffer
			writeSystems(&t, g)
			// One level down: the README section is a ## heading.
			sec.WriteString(strings.ReplaceAll(t.String(), "\n## ", "\n### "))
			continue
		}
		if g.bench == "Publish" {
			continue
		}
		fmt.Fprintf(&sec, "\n### %s\n\n", g.bench)
		writeGroup(&sec, g, subjectOf(g, m.subject))
	}
	sec.WriteString("\n")
	text = text[:i] + sec.String() + text[j:]
	return os.WriteFile(path, []byte(text), 0o644)
}

// subjectOf is subject if g has that system, else g's first system whose
// name starts with it (onexbus-fwd in Kafka).
func subjectOf(g *group, subject string) string {
	if slices.Contains(g.systems, subject) {
		return subject
	}
	for _, sys := range g.systems {
		if strings.HasPrefix(sys, subject) {
			return sys
		}
	}
	return subject
}

// machine describes the host: CPU model (from /proc/cpuinfo) and count.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if model == "" {
		model = runtime.GOARCH
	}
	return fmt.Sprintf("%d x %s, %s", runtime.NumCPU(), model, runtime.GOOS)
}

type meta struct {
	subject, cmd, mode, rev, source, load, machine string
	now                                            time.Time
}

func write(w io.Writer, r *run, m meta) {
	fmt.Fprintf(w, "# Peer benchmarks\n\n")
	fmt.Fprintf(w, "Generated %s by bench/cmd/report from %s.\n\n", m.now.Format(time.RFC3339), m.source)
	if m.mode != "" {
		fmt.Fprintf(w, "- mode: %s\n", m.mode)
	}
	if m.rev != "" {
		fmt.Fprintf(w, "- library revision: %s (the bench module measures the working tree)\n", m.rev)
	}
	if m.cmd != "" {
		fmt.Fprintf(w, "- command: `%s`\n", m.cmd)
	}
	fmt.Fprintf(w, "- %s (report tool built with %s)\n", strings.Join(r.env, ", "), runtime.Version())
	if m.machine != "" {
		fmt.Fprintf(w, "- machine: %s (nproc and /proc/cpuinfo model name)\n", m.machine)
	}
	if m.load != "" {
		fmt.Fprintf(w, "- load average at report time (1, 5, 15 min): %s\n", m.load)
	}
	fmt.Fprintf(w, "\nmsgs/s is the median of the runs, ± half their min-max spread; allocs/op is the median per message, "+
		"publisher and subscriber sides together for EndToEnd. %s/X is the ratio of median msgs/s.\n", m.subject)
	for _, g := range groups(r.results) {
		if g.bench == systemsBench {
			writeSystems(w, g)
			continue
		}
		fmt.Fprintf(w, "\n## %s\n\n", g.bench)
		writeGroup(w, g, subjectOf(g, m.subject))
	}
}

// loadAvg returns the first three fields of /proc/loadavg, or "" where
// there is none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
