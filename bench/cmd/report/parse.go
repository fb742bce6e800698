package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A result is one benchmark line of `go test -bench` output.
type result struct {
	bench  string            // top-level name without "Benchmark": "EndToEnd"
	name   string            // full name without the -GOMAXPROCS suffix
	config map[string]string // key=value path elements: sys, pubs, size, ...
	keys   []string          // config keys in name order
	values map[string]float64
}

// run is everything read from one `go test -bench` output.
type run struct {
	env     []string // goos, goarch, pkg, cpu lines, first seen
	results []result
	passed  bool // a PASS or ok line, and no FAIL line
}

// parse reads `go test -bench` output. A line that starts with
// "Benchmark" and has an iteration count is a result; other lines are
// environment (goos:, cpu:, ...) or status. A FAIL line anywhere makes the
// run failed.
func parse(r io.Reader) (*run, error) {
	out := &run{}
	seenEnv := map[string]bool{}
	failed, ok := false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "FAIL"), strings.HasPrefix(text, "--- FAIL"), strings.HasPrefix(text, "panic:"):
			failed = true
		case text == "PASS", strings.HasPrefix(text, "ok "), strings.HasPrefix(text, "ok\t"):
			ok = true
		case strings.HasPrefix(text, "goos:"), strings.HasPrefix(text, "goarch:"),
			strings.HasPrefix(text, "pkg:"), strings.HasPrefix(text, "cpu:"):
			key, _, _ := strings.Cut(text, ":")
			if !seenEnv[key] {
				seenEnv[key] = true
				out.env = append(out.env, strings.TrimSpace(text))
			}
		case strings.HasPrefix(text, "Benchmark"):
			res, isResult, err := parseResult(text)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			if isResult {
				out.results = append(out.results, res)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	out.passed = ok && !failed
	return out, nil
}

// parseResult parses "BenchmarkX/k=v/k2=v2-2  N  v unit  v unit ...".
// isResult is false for a line that only names a benchmark (a chatty
// header or a benchmark that printed before its result).
func parseResult(text string) (res result, isResult bool, err error) {
	f := strings.Fields(text)
	if len(f) < 2 {
		return result{}, false, nil
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return result{}, false, nil
	}
	if len(f)%2 != 0 {
		return result{}, false, fmt.Errorf("odd value/unit pairs in %q", text)
	}
	name := stripProcs(f[0])
	parts := strings.Split(name, "/")
	res = result{
		bench:  strings.TrimPrefix(parts[0], "Benchmark"),
		name:   name,
		config: map[string]string{},
		values: map[string]float64{},
	}
	for i, p := range parts[1:] {
		k, v, found := strings.Cut(p, "=")
		if !found {
			k, v = fmt.Sprintf("part%d", i+1), p
		}
		res.config[k] = v
		res.keys = append(res.keys, k)
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false, fmt.Errorf("value %q in %q: %w", f[i], text, err)
		}
		res.values[f[i+1]] = v
	}
	return res, true, nil
}

// stripProcs removes the -GOMAXPROCS suffix go test appends to a name.
func stripProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}
