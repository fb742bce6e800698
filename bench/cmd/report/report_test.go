package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/onexbus/onexbus/bench
cpu: Some CPU
BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256-2   	  100	  1000 ns/op	 256.00 MB/s	 300000 msgs/s	 2000 B/op	 6 allocs/op
BenchmarkEndToEnd/sys=gochannel/pubs=1/size=256-2 	  100	  1000 ns/op	 256.00 MB/s	 100000 msgs/s	 2000 B/op	 27 allocs/op
BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256-2   	  100	  1000 ns/op	 256.00 MB/s	 100000 msgs/s	 2000 B/op	 4 allocs/op
BenchmarkEndToEnd/sys=gochannel/pubs=1/size=256-2 	  100	  1000 ns/op	 256.00 MB/s	 100000 msgs/s	 2000 B/op	 27 allocs/op
BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256-2   	  100	  1000 ns/op	 256.00 MB/s	 400000 msgs/s	 2000 B/op	 5 allocs/op
BenchmarkEndToEnd/sys=gochannel/pubs=1/size=256-2 	  100	  1000 ns/op	 256.00 MB/s	 100000 msgs/s	 2000 B/op	 27 allocs/op
BenchmarkPublish/sys=onexbus/size=64-2	 1000	 1500 ns/op	 666666 msgs/s	 1250 B/op	 1 allocs/op
PASS
ok  	github.com/onexbus/onexbus/bench	12.3s
`

func TestParse(t *testing.T) {
	r, err := parse(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	if !r.passed {
		t.Error("passed = false, want true")
	}
	if len(r.results) != 7 {
		t.Fatalf("got %d results, want 7", len(r.results))
	}
	first := r.results[0]
	if first.bench != "EndToEnd" || first.name != "BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256" {
		t.Errorf("bench, name = %q, %q", first.bench, first.name)
	}
	if first.config["sys"] != "onexbus" || first.config["size"] != "256" || first.values["msgs/s"] != 300000 {
		t.Errorf("config %v values %v", first.config, first.values)
	}
	if len(r.env) != 4 {
		t.Errorf("env = %q, want goos, goarch, pkg, cpu", r.env)
	}
}

func TestParseFailed(t *testing.T) {
	for name, out := range map[string]string{
		"fail line":   "BenchmarkX-2 1 1 ns/op\n--- FAIL: BenchmarkX\nFAIL\n",
		"no status":   "BenchmarkX-2 1 1 ns/op\n",
		"fail and ok": "BenchmarkX-2 1 1 ns/op\nFAIL\tpkg 1s\nok  \tother 1s\n",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := parse(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if r.passed {
				t.Error("passed = true, want false")
			}
		})
	}
}

func TestStripProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkX/sys=a-b/size=1-16": "BenchmarkX/sys=a-b/size=1",
		"BenchmarkX/sys=a-b":           "BenchmarkX/sys=a-b",
		"BenchmarkX":                   "BenchmarkX",
	} {
		if got := stripProcs(in); got != want {
			t.Errorf("stripProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	r, err := parse(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	write(&buf, r, meta{subject: "onexbus", source: "test", now: time.Unix(0, 0)})
	got := buf.String()
	for _, want := range []string{
		"## EndToEnd",
		"| case | runs | onexbus msgs/s | onexbus allocs/op | gochannel msgs/s | gochannel allocs/op | onexbus/gochannel |",
		// medians: 300,000 of {100k,300k,400k}; 5 of {4,5,6}; ratio 3.00x.
		"| pubs=1 size=256 | 3 | 300,000 ±50% | 5 | 100,000 ±0% | 27 | 3.00x |",
		"## Publish",
		"| size=64 | 1 | 666,666 ±0% | 1 | 1,500 | 1,250 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q\n%s", want, got)
		}
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", -1500: "-1,500"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestSystemsEqualRates checks the latency tables of the Systems
// benchmark: shares of each system's own peak in one table, the class's
// equal offered rates in another, with the scheduler's lateness and the
// subject's p99 over each other system's at the same rate.
func TestSystemsEqualRates(t *testing.T) {
	out := `BenchmarkSystems/class=memory/sys=onexbus-mem-2 1 1 ns/op 1000 peak-msgs/s 100 offered-msgs/s@10% 100 msgs/s@10% 5 p50-us@10% 50 p99-us@10% 60 p99.9-us@10% 7 sched-p99-us@10% 5000 offered-msgs/s@r5000 5000 msgs/s@r5000 9 p50-us@r5000 40 p99-us@r5000 70 p99.9-us@r5000 8 sched-p99-us@r5000
BenchmarkSystems/class=memory/sys=gochannel-2 1 1 ns/op 500 peak-msgs/s 50 offered-msgs/s@10% 50 msgs/s@10% 4 p50-us@10% 30 p99-us@10% 40 p99.9-us@10% 6 sched-p99-us@10% 5000 offered-msgs/s@r5000 5000 msgs/s@r5000 9 p50-us@r5000 80 p99-us@r5000 90 p99.9-us@r5000 8 sched-p99-us@r5000
PASS
`
	r, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeSystems(&b, groups(r.results)[0])
	got := b.String()
	for _, want := range []string{
		"| memory | onexbus-mem | 10% | 100 | 100 | 5 | 50 | 60 | 7 | - |",
		"| memory | gochannel | 10% | 50 | 50 | 4 | 30 | 40 | 6 | 1.67x |",
		"## End-to-end latency at equal offered rates",
		"| memory | onexbus-mem | 5,000/s | 5,000 | 5,000 | 9 | 40 | 70 | 8 | - |",
		"| memory | gochannel | 5,000/s | 5,000 | 5,000 | 9 | 80 | 90 | 8 | 0.50x |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "| r5000 |") {
		t.Errorf("a rate in the table of shares:\n%s", got)
	}
}
