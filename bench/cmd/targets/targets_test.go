package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256
BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256-2   	  300000	  2000 ns/op	 500000 msgs/s	 10 B/op	 1 allocs/op
    bench_test.go:12: a log line
BenchmarkSystems/class=memory/sys=chan-2 1 5 ns/op 100 p99-us@r10000
PASS
`)
	f, passed, err := parseBench(out)
	if err != nil || !passed {
		t.Fatalf("passed %v, err %v", passed, err)
	}
	if got := f["BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256"]["msgs/s"]; got != 500000 {
		t.Errorf("msgs/s = %v", got)
	}
	if got := f["BenchmarkSystems/class=memory/sys=chan"]["p99-us@r10000"]; got != 100 {
		t.Errorf("p99 = %v", got)
	}
	if _, passed, _ := parseBench([]byte("BenchmarkX-2 1 1 ns/op\n--- FAIL: BenchmarkX\nFAIL\n")); passed {
		t.Error("a FAIL counted as passed")
	}
	if _, _, err := parseBench([]byte("BenchmarkX-2 1 abc ns/op\nPASS\n")); err == nil {
		t.Error("a bad value parsed")
	}
	c := benchCase{id: "x", want: map[string][]string{"BenchmarkEndToEnd/sys=onexbus/pubs=1/size=256": {"msgs/s", "p99-us@50%"}}}
	if err := c.check(f); err == nil || !strings.Contains(err.Error(), "p99-us@50%") {
		t.Errorf("check = %v, want the missing unit named", err)
	}
}

// TestReport checks the verdicts (met, missed, no data), the paired
// per-round ratios and the failed runs' section.
func TestReport(t *testing.T) {
	r := newResults()
	e2e := func(sys string) string { return "BenchmarkEndToEnd/sys=" + sys + "/pubs=1/size=256" }
	for round, v := range []float64{1_000_000, 1_200_000, 900_000} {
		r.add("e2e/onexbus", round, figures{e2e("onexbus"): {"msgs/s": v}}, nil, 1.5, time.Second)
		r.add("e2e/gochannel", round, figures{e2e("gochannel"): {"msgs/s": 100_000}}, nil, 1.5, time.Second)
	}
	for round := range 3 {
		r.add("e2e/chan", round, nil, errors.New("e2e/chan: exit status 1\nboom"), 2, time.Second)
	}
	sel := []benchCase{{id: "e2e/onexbus", want: map[string][]string{e2e("onexbus"): {"msgs/s"}}},
		{id: "e2e/gochannel", want: map[string][]string{e2e("gochannel"): {"msgs/s"}}},
		{id: "e2e/chan", want: map[string][]string{e2e("chan"): {"msgs/s"}}}}
	var b strings.Builder
	failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel)
	got := b.String()
	if failed != 3 {
		t.Errorf("failed = %d, want 3", failed)
	}
	for _, want := range []string{
		"| memory bus end to end vs Watermill GoChannel | 10.00x | >= 10.00x | yes | [10.00x, 12.00x, 9.00x] | 1.5-1.5 |",
		"| memory bus end to end vs a bare channel buffered by 1,024 | n/a | >= 0.10x | **no data** |",
		"1 met, 0 missed, 1 without data.",
		"## FAILED runs (3)",
		"boom",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "durable PublishAsync") {
		t.Error("a target of cases that did not run")
	}
}

// TestReportInformational: the transactional produce row is per-round
// ratios against the idempotent produce of the same round, no verdict.
func TestReportInformational(t *testing.T) {
	r := newResults()
	for round, v := range []float64{100, 200, 300} {
		r.add("txn/produce", round, figures{
			txnProduce("idempotent"): {"msgs/s": v}, txnProduce("txn-10000"): {"msgs/s": v / 2}, txnProduce("txn-1000"): {"msgs/s": v / 4},
		}, nil, 2, time.Second)
	}
	var sel []benchCase
	for _, c := range cases() {
		if c.id == "txn/produce" {
			sel = append(sel, c)
		}
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	for _, want := range []string{
		"| txn-10000 vs idempotent | 0.50x | [0.50x, 0.50x, 0.50x] | 2.0-2.0 |",
		"| txn-1000 vs idempotent | 0.25x | [0.25x, 0.25x, 0.25x] | 2.0-2.0 |",
		"0 met, 0 missed, 0 without data.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// TestReportLatency: a Systems child's row gives the medians, the p99 of
// every round (the row's stability) and the CPU per message.
func TestReportLatency(t *testing.T) {
	c := systemCase("memory", "chan", "r10000")
	name := "BenchmarkSystems/class=memory/sys=chan"
	r := newResults()
	for round, p99 := range []float64{900, 1_500, 1_200} {
		r.add(c.id, round, figures{name: {
			"peak-msgs/s": 4_000_000, "peak-rss-MB": 17, "offered-msgs/s@r10000": 10_000, "msgs/s@r10000": 9_999,
			"p50-us@r10000": 100, "p99-us@r10000": p99, "sched-p99-us@r10000": 500, "cpu-ns/msg@r10000": 20_000 + p99, "pubs@r10000": 4,
		}}, nil, 1, time.Second)
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, []benchCase{c}); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	want := "| chan | 4,000,000 | 17 | 10,000/s | 10,000 | 9,999 | 100 | 1,200 | [900, 1,500, 1,200] | 500 | 21,200 | 4 | 1.0-1.0 |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in\n%s", want, b.String())
	}
	f := figures{name: {}}
	for _, u := range c.want[name] {
		if u != "cpu-ns/msg@r10000" {
			f[name][u] = 1
		}
	}
	if err := c.check(f); err == nil || !strings.Contains(err.Error(), "cpu-ns/msg@r10000") {
		t.Errorf("check = %v, want the missing cpu-ns/msg named", err)
	}
}

// TestReportHeaderBounds: kgo with the forwarder's headers (default and
// compact) is reported as per-round ratios against kgo without headers
// of the same round, no verdict.
func TestReportHeaderBounds(t *testing.T) {
	r := newResults()
	kaf := func(sys string) string { return "BenchmarkKafka/sys=" + sys + "/pubs=1/size=256" }
	for round, v := range []float64{1000, 2000, 4000} {
		r.add("kafka/kgo", round, figures{kaf("kgo-async"): {"msgs/s": v}}, nil, 1.5, time.Second)
		r.add("kafka/kgo-hdrs", round, figures{kaf("kgo-async-hdrs"): {"msgs/s": v * 0.7}}, nil, 1.5, time.Second)
		r.add("kafka/kgo-compact", round, figures{kaf("kgo-async-compact"): {"msgs/s": v * 0.8}}, nil, 1.5, time.Second)
	}
	var sel []benchCase
	for _, c := range cases() {
		switch c.id {
		case "kafka/kgo", "kafka/kgo-hdrs", "kafka/kgo-compact":
			sel = append(sel, c)
		}
	}
	if len(sel) != 3 {
		t.Fatalf("%d of the 3 kgo cases in cases()", len(sel))
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	for _, want := range []string{
		"| kgo with the nine default text headers vs kgo without | 0.70x | [0.70x, 0.70x, 0.70x] | 1.5-1.5 |",
		"| kgo with the four HeadersCompact headers vs kgo without | 0.80x | [0.80x, 0.80x, 0.80x] | 1.5-1.5 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "Transactional") {
		t.Error("the transactional rows without their case")
	}
}

// TestReportFixedPool: the durable children's runs with the fixed pool
// of 16 (labels ending in /fixed) are asked of the child through
// ONEXBUS_BENCH_FIXED (JetStream SyncAlways too), shown in the latency
// table as their load with "fixed pool", and written as an informational
// block next to the targets they correspond to: the 50% figure and the
// ratios against JetStream, per round, no verdict.
func TestReportFixedPool(t *testing.T) {
	var sel []benchCase
	for _, c := range cases() {
		if c.id == "sys/onexbus" || c.id == "sys/jetstream" {
			sel = append(sel, c)
		}
	}
	if len(sel) != 2 {
		t.Fatalf("%d of the 2 durable cases in cases()", len(sel))
	}
	for _, c := range cases() {
		if c.id == "sys/jetstream-syncalways" && !slices.Contains(c.env, "ONEXBUS_BENCH_FIXED=r1000,r2000") {
			t.Errorf("jetstream-syncalways: env %v", c.env)
		}
	}
	if !slices.Contains(sel[0].env, "ONEXBUS_BENCH_FIXED=50%,r1000,r2000") || !slices.Contains(sel[1].env, "ONEXBUS_BENCH_FIXED=r1000,r2000") {
		t.Fatalf("env %v / %v", sel[0].env, sel[1].env)
	}
	r := newResults()
	name := func(s string) string { return "BenchmarkSystems/class=durable/sys=" + s }
	for round, p99 := range []float64{4_000, 8_000, 6_000} {
		f := func(sys string, scale float64) figures {
			m := map[string]float64{}
			for _, u := range sel[0].want[name("onexbus")] {
				m[u] = 1
			}
			m["p99-us@50%"] = p99 / 2
			m["p99-us@50%/fixed"] = p99 * scale
			m["p99-us@r1000/fixed"] = p99 * scale
			m["p99-us@r2000/fixed"] = 2 * p99 * scale
			m["pubs@r1000/fixed"] = 16
			return figures{name(sys): m}
		}
		r.add("sys/onexbus", round, f("onexbus", 1), nil, 1.5, time.Second)
		r.add("sys/jetstream", round, f("jetstream", 0.5), nil, 1.5, time.Second)
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	for _, want := range []string{
		"| durable bus p99 at 50% of its own peak | 3.00 ms | <= 5.00 ms | yes | [2.00 ms, 4.00 ms, 3.00 ms] |",
		"| durable bus p99 at 50% of its own peak, fixed pool of 16 | 6.00 ms | [4.00 ms, 8.00 ms, 6.00 ms] | 1.5-1.5 |",
		"| onexbus p99 vs jetstream at 1,000/s, both fixed pools of 16 | 2.00x | [2.00x, 2.00x, 2.00x] | 1.5-1.5 |",
		"| onexbus p99 vs jetstream at 2,000/s, both fixed pools of 16 | 2.00x | [2.00x, 2.00x, 2.00x] | 1.5-1.5 |",
		"| onexbus |  |  | 1,000/s, fixed pool | n/a | 1 | 1 | 6,000 | [4,000, 8,000, 6,000] | 1 | 1 | 16 | 1.5-1.5 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// TestSystemCaseLoads: a Systems case runs the shares of its peak only
// when it reports one (JetStream SyncAlways and chan report rates only).
func TestSystemCaseLoads(t *testing.T) {
	for _, c := range []struct {
		c    benchCase
		want string
	}{
		{systemCase("memory", "onexbus-mem", "50%", "r10000"), "ONEXBUS_BENCH_LOADS=" + reportLoads},
		{systemCase("durable", "jetstream-syncalways", "r1000", "r2000"), "ONEXBUS_BENCH_LOADS=none"},
	} {
		if !slices.Contains(c.c.env, c.want) {
			t.Errorf("%s: env %v, want %s", c.c.id, c.c.env, c.want)
		}
	}
}

// TestReportStoredKfake: every forwarder case runs a second time per
// round as the harness ran it before (kfake storing what it is sent, no
// warm-up), the same benchmark and count; the
// targets take the default cases' figures and an informational block the
// stored ones, per round.
func TestReportStoredKfake(t *testing.T) {
	byID := map[string]benchCase{}
	for _, c := range cases() {
		byID[c.id] = c
	}
	var sel []benchCase
	for _, id := range []string{"drain", "drain-compact", "fwd", "kgo-hdrs", "kgo"} {
		c, ok := byID["kafka/"+id]
		s, sok := byID[storedGroup+"/"+id]
		if !ok || !sok {
			t.Fatalf("kafka/%s or %s/%s missing from cases()", id, storedGroup, id)
		}
		twin := c
		if id == "kgo-hdrs" {
			// The reference of then: one shared header set.
			twin = byID["kafka/kgo-hdrs-shared"]
		}
		old := slices.Contains(s.env, "ONEXBUS_BENCH_KFAKE_STORE=1") && slices.Contains(s.env, "ONEXBUS_BENCH_KAFKA_WARMUP=0")
		if s.bench != twin.bench || s.n != twin.n || !old || len(c.env) != 0 {
			t.Errorf("%s/%s = %+v, kafka/%s = %+v", storedGroup, id, s, id, c)
		}
		sel = append(sel, c, s)
	}
	r := newResults()
	kaf := func(sys string) string { return "BenchmarkKafka/sys=" + sys + "/pubs=1/size=256" }
	for round := range 3 {
		for group, scale := range map[string]float64{"kafka": 1, storedGroup: 0.5} {
			hdrs := "kgo-async-hdrs"
			if group == storedGroup {
				hdrs = "kgo-async-hdrs-shared"
			}
			r.add(group+"/kgo", round, figures{kaf("kgo-async"): {"msgs/s": 1000}}, nil, 1.5, time.Second)
			r.add(group+"/kgo-hdrs", round, figures{kaf(hdrs): {"msgs/s": 800}}, nil, 1.5, time.Second)
			r.add(group+"/fwd", round, figures{kaf("onexbus-fwd"): {"msgs/s": 800 * scale}}, nil, 1.5, time.Second)
			r.add(group+"/drain", round, figures{"BenchmarkForwarderDrain/sys=onexbus-fwd/size=256": {"msgs/s": 900 * scale}}, nil, 1.5, time.Second)
			r.add(group+"/drain-compact", round, figures{"BenchmarkForwarderDrain/sys=onexbus-fwd-compact/size=256": {"msgs/s": 950 * scale}}, nil, 1.5, time.Second)
		}
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	for _, want := range []string{
		"| Kafka forwarder vs kgo straight to kfake, the same records | 1.12x | >= 0.80x | yes |",
		"| publish + forward vs kgo straight to kfake, the same records | 1.00x | >= 0.80x | yes |",
		"| Kafka forwarder vs kgo straight to kfake, the same records, the harness before | 0.56x | [0.56x, 0.56x, 0.56x] | 1.5-1.5 |",
		"| Kafka forwarder with the HeadersCompact option vs kgo without headers, the harness before | 0.47x | [0.47x, 0.47x, 0.47x] | 1.5-1.5 |",
		"| publish + forward vs kgo straight to kfake, the same records, the harness before | 0.50x | [0.50x, 0.50x, 0.50x] | 1.5-1.5 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// TestReportSharedHeaders: kgo with one shared header set (the "same
// records" reference before session 7) is its own case, and the report
// gives the forwarder's two "same records" rows and kgo writing each
// record's headers against it, per round, no verdict.
func TestReportSharedHeaders(t *testing.T) {
	ids := []string{"kafka/drain", "kafka/fwd", "kafka/kgo-hdrs", "kafka/kgo-hdrs-shared"}
	var sel []benchCase
	for _, c := range cases() {
		if slices.Contains(ids, c.id) {
			sel = append(sel, c)
		}
	}
	if len(sel) != len(ids) {
		t.Fatalf("%d of the %d cases in cases()", len(sel), len(ids))
	}
	r := newResults()
	kaf := func(sys string) string { return "BenchmarkKafka/sys=" + sys + "/pubs=1/size=256" }
	for round := range 3 {
		r.add("kafka/kgo-hdrs-shared", round, figures{kaf("kgo-async-hdrs-shared"): {"msgs/s": 1000}}, nil, 1.5, time.Second)
		r.add("kafka/kgo-hdrs", round, figures{kaf("kgo-async-hdrs"): {"msgs/s": 900}}, nil, 1.5, time.Second)
		r.add("kafka/fwd", round, figures{kaf("onexbus-fwd"): {"msgs/s": 700}}, nil, 1.5, time.Second)
		r.add("kafka/drain", round, figures{"BenchmarkForwarderDrain/sys=onexbus-fwd/size=256": {"msgs/s": 800}}, nil, 1.5, time.Second)
	}
	var b strings.Builder
	if failed := writeReport(&b, meta{rounds: 3, cores: 2}, r, sel); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	for _, want := range []string{
		"| Kafka forwarder vs kgo straight to kfake, the same records | 0.89x | >= 0.80x | yes |",
		"| Kafka forwarder vs kgo with one shared header set | 0.80x | [0.80x, 0.80x, 0.80x] | 1.5-1.5 |",
		"| publish + forward vs kgo with one shared header set | 0.70x | [0.70x, 0.70x, 0.70x] | 1.5-1.5 |",
		"| kgo writing each record's headers vs kgo with one shared header set | 0.90x | [0.90x, 0.90x, 0.90x] | 1.5-1.5 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
