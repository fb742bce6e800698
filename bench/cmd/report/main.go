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
	var buf bytes.Buffer
	write(&buf, r, meta{subject: *subject, cmd: *cmd, mode: *mode, rev: *rev, source: source, now: time.Now().UTC(), load: loadAvg()})
	if *outPath == "" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(*outPath, buf.Bytes(), 0o644)
}

type meta struct {
	subject, cmd, mode, rev, source, load string
	now                                   time.Time
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
	if m.load != "" {
		fmt.Fprintf(w, "- load average at report time (1, 5, 15 min): %s\n", m.load)
	}
	fmt.Fprintf(w, "\nmsgs/s is the median of the runs, ± half their min-max spread; allocs/op is the median per message, "+
		"publisher and subscriber sides together for EndToEnd. %s/X is the ratio of median msgs/s.\n", m.subject)
	for _, g := range groups(r.results) {
		fmt.Fprintf(w, "\n## %s\n\n", g.bench)
		writeGroup(w, g, m.subject)
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
