// Command targets runs every measurement of issue 16's performance
// targets in one run and writes a markdown report of each figure against
// its target (make bench-report runs it).
//
// Usage (from the bench directory):
//
//	go run ./cmd/targets -baseline <commit> [-rounds 3] [-o results/<date>-report.md]
//
// It builds four test binaries in a temporary directory: the bench
// module (the working tree, with the forwarder), the wal package (its
// BenchmarkReopen of a ~1 GiB log), the broker package (its kgo
// transactional produce, an informational row), and the bench module of the baseline
// commit (extracted with git archive) against that commit's library, for
// the 16-synchronous-publisher figure. Then it runs every case once per
// round, all cases in each round, so that a figure and its reference run
// back to back under the same load; figures are medians of the rounds,
// ratios medians of the per-round ratios. Each case is its own process,
// bounded in time (5 minutes) and memory by its fixed message count.
//
// Any case that fails (an exit status, a FAIL, a figure missing from its
// output) is reported in the markdown with its output and makes the
// command exit with status 1, after the rest ran.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "targets:", err)
		os.Exit(1)
	}
}

// budget is the time the whole run should take on a 2-core machine; the
// report says when it took longer.
const budget = 12 * time.Minute

func run(args []string) error {
	fs := flag.NewFlagSet("targets", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "runs of every case; figures are their medians")
	baseline := fs.String("baseline", "", "the commit whose 16-synchronous-publisher figure is the reference (required)")
	root := fs.String("root", "..", "the repository root (the bench module is its bench directory)")
	outPath := fs.String("o", "", "the report (default results/<UTC date>-report.md)")
	only := fs.String("only", "", "run only the cases whose id contains one of these comma-separated strings (for trying a row; the report says so)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *baseline == "" {
		return errors.New("-baseline is required: the commit to compare 16 synchronous publishers with")
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	started := time.Now().UTC()
	if *outPath == "" {
		*outPath = filepath.Join("results", started.Format("2006-01-02")+"-report.md")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rootDir, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	m, err := describe(ctx, rootDir, *baseline)
	if err != nil {
		return err
	}
	m.rounds, m.started, m.baselineArg = *rounds, started, *baseline
	m.loadStart = loadAvg()

	selected := cases()
	if *only != "" {
		m.only = *only
		var keep []benchCase
		for _, c := range selected {
			for f := range strings.SplitSeq(*only, ",") {
				if f != "" && strings.Contains(c.id, f) {
					keep = append(keep, c)
					break
				}
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("-only %q selects no case", *only)
		}
		selected = keep
	}

	tmp, err := os.MkdirTemp("", "bench-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins, err := build(ctx, rootDir, tmp, m.baseline, selected)
	if err != nil {
		return err
	}
	m.built = time.Since(started)

	res := newResults()
	for r := range *rounds {
		for _, c := range selected {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %s (load %s)\n", r+1, *rounds, c.id, loadAvg())
			l := load1()
			t0 := time.Now()
			f, err := runCase(ctx, c, bins[c.bin], tmp)
			res.add(c.id, r, f, err, l, time.Since(t0))
			if err != nil {
				fmt.Fprintf(os.Stderr, "FAILED %v\n", err)
			}
		}
	}
	m.elapsed = time.Since(started)
	m.loadEnd = loadAvg()

	if err := os.MkdirAll(filepath.Dir(*outPath), 0o755); err != nil {
		return err
	}
	var sb strings.Builder
	failed := writeReport(&sb, m, res, selected)
	if err := os.WriteFile(*outPath, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s in %v\n", *outPath, m.elapsed.Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d case runs failed; see %s", failed, *outPath)
	}
	return nil
}

// meta is what the report says about the run and the machine.
type meta struct {
	commit, describe, baseline, baselineArg string
	goVersion, cpu, only                    string
	cores, rounds                           int
	started                                 time.Time
	built, elapsed                          time.Duration
	loadStart, loadEnd                      string
}

// describe reads the machine, the Go toolchain and the two commits.
func describe(ctx context.Context, root, baseline string) (meta, error) {
	var m meta
	var err error
	if m.commit, err = command(ctx, root, nil, "git", "rev-parse", "HEAD"); err != nil {
		return m, err
	}
	if m.describe, err = command(ctx, root, nil, "git", "describe", "--always", "--dirty"); err != nil {
		return m, err
	}
	if m.baseline, err = command(ctx, root, nil, "git", "rev-parse", "--verify", baseline+"^{commit}"); err != nil {
		return m, fmt.Errorf("baseline %q: %w", baseline, err)
	}
	if m.goVersion, err = command(ctx, root, nil, "go", "env", "GOVERSION"); err != nil {
		return m, err
	}
	m.cores = runtime.NumCPU()
	m.cpu = cpuModel()
	return m, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// build compiles the test binaries the selected cases need into tmp.
func build(ctx context.Context, root, tmp, baseline string, selected []benchCase) (map[binary]string, error) {
	need := map[binary]bool{}
	for _, c := range selected {
		need[c.bin] = true
	}
	bins := map[binary]string{}
	env := []string{"GOWORK=off"}
	if need[benchBin] {
		bins[benchBin] = filepath.Join(tmp, "bench.test")
		fmt.Fprintln(os.Stderr, "building the bench module's test binary")
		if _, err := command(ctx, filepath.Join(root, "bench"), env, "go", "test", "-c", "-tags", "forwarder", "-o", bins[benchBin], "."); err != nil {
			return nil, err
		}
	}
	if need[walBin] {
		bins[walBin] = filepath.Join(tmp, "wal.test")
		fmt.Fprintln(os.Stderr, "building the wal test binary")
		if _, err := command(ctx, root, env, "go", "test", "-c", "-o", bins[walBin], "./wal"); err != nil {
			return nil, err
		}
	}
	if need[brokerBin] {
		bins[brokerBin] = filepath.Join(tmp, "broker.test")
		fmt.Fprintln(os.Stderr, "building the broker test binary")
		if _, err := command(ctx, root, env, "go", "test", "-c", "-o", bins[brokerBin], "./transport/kafka/broker"); err != nil {
			return nil, err
		}
	}
	if need[baseBin] {
		src := filepath.Join(tmp, "baseline")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "extracting and building the baseline %s\n", baseline)
		tar := filepath.Join(tmp, "baseline.tar")
		if _, err := command(ctx, root, nil, "git", "archive", "--format=tar", "-o", tar, baseline); err != nil {
			return nil, err
		}
		if _, err := command(ctx, src, nil, "tar", "-xf", tar); err != nil {
			return nil, err
		}
		bins[baseBin] = filepath.Join(tmp, "base.test")
		if _, err := command(ctx, filepath.Join(src, "bench"), env, "go", "test", "-c", "-o", bins[baseBin], "."); err != nil {
			return nil, fmt.Errorf("baseline bench module: %w", err)
		}
	}
	return bins, nil
}
