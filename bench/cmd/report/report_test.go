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
