package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// figures are one run of a case: sub-benchmark name (no -procs suffix)
// -> unit -> value.
type figures map[string]map[string]float64

// parseBench reads `go test -bench` output. It returns the figures of
// every result line and whether the binary reported PASS; a result line
// that does not parse is an error.
func parseBench(out []byte) (figures, bool, error) {
	f := figures{}
	passed := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "PASS":
			passed = true
		case strings.HasPrefix(line, "--- FAIL") || line == "FAIL":
			return f, false, nil
		case strings.HasPrefix(line, "Benchmark"):
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue // a name printed alone, before its result
			}
			if _, err := strconv.Atoi(fields[1]); err != nil {
				continue // not a result line (a log line of a benchmark)
			}
			if len(fields)%2 != 0 {
				return nil, false, fmt.Errorf("result line with an odd number of fields: %q", line)
			}
			name := fields[0]
			if i := strings.LastIndexByte(name, '-'); i > 0 {
				if _, err := strconv.Atoi(name[i+1:]); err == nil {
					name = name[:i]
				}
			}
			units := map[string]float64{}
			for i := 2; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					return nil, false, fmt.Errorf("value %q in %q: %w", fields[i], line, err)
				}
				units[fields[i+1]] = v
			}
			f[name] = units
		}
	}
	return f, passed, sc.Err()
}

// check reports the first wanted figure missing from f.
func (c benchCase) check(f figures) error {
	for name, units := range c.want {
		got, ok := f[name]
		if !ok {
			return fmt.Errorf("%s: no result for %s", c.id, name)
		}
		for _, u := range units {
			if _, ok := got[u]; !ok {
				return fmt.Errorf("%s: %s reported no %q", c.id, name, u)
			}
		}
	}
	return nil
}

// caseTimeout bounds one invocation: a hung case fails the run instead
// of holding it.
const caseTimeout = 5 * time.Minute

// runCase runs c once with the binary at exe, in dir, and returns its
// figures; any failure (exit status, FAIL, a missing figure) is an error
// carrying the tail of the output.
func runCase(ctx context.Context, c benchCase, exe, dir string) (figures, error) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run", "^$", "-test.bench", c.bench,
		"-test.benchtime", fmt.Sprintf("%dx", c.n), "-test.count", "1", "-test.benchmem", "-test.timeout", caseTimeout.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), c.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	f, passed, perr := parseBench(out.Bytes())
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %s: %w\n%s", c.id, filepath.Base(exe), err, tail(out.Bytes()))
	case perr != nil:
		return nil, fmt.Errorf("%s: %w\n%s", c.id, perr, tail(out.Bytes()))
	case !passed:
		return nil, fmt.Errorf("%s: no PASS\n%s", c.id, tail(out.Bytes()))
	}
	if err := c.check(f); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(out.Bytes()))
	}
	return f, nil
}

// tail is the last 40 lines of out.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// loadAvg is the first three fields of /proc/loadavg ("" where there is
// none).
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

// load1 is the 1-minute load average, or -1.
func load1() float64 {
	f := strings.Fields(loadAvg())
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// command runs name args in dir and returns its trimmed output; a failure
// carries the output.
func command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s (in %s): %w\n%s", name, strings.Join(args, " "), dir, err, tail(out))
	}
	return strings.TrimSpace(string(out)), nil
}
