package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// A target is one of issue 16's figures against its bound.
type target struct {
	name   string
	figure string // how it is computed, for the reader
	ids    []string
	// values are the per-round figures (ratios are paired per round);
	// their median is the measured figure.
	values  func(r *results) []float64
	atLeast bool // true: figure >= bound; false: figure <= bound
	bound   float64
	unit    string // "x" (a ratio) or "ms"
}

func ratioOf(aID, aName, bID, bName, unit string) func(r *results) []float64 {
	return func(r *results) []float64 {
		return paired(r.series(aID, aName, unit), r.series(bID, bName, unit))
	}
}

func figureOf(id, name, unit string, scale float64) func(r *results) []float64 {
	return func(r *results) []float64 {
		v := values(r.series(id, name, unit))
		for i := range v {
			v[i] *= scale
		}
		return v
	}
}

// equalRate is the subject's p99 over the peer's at the same offered
// rate, per round (the two ran in the same round).
func equalRate(class, subj, peer, label string) target {
	name := func(sys string) string { return fmt.Sprintf("BenchmarkSystems/class=%s/sys=%s", class, sys) }
	rate, _ := strconv.Atoi(strings.TrimPrefix(label, "r"))
	return target{
		name:   fmt.Sprintf("%s p99 vs %s at %s msgs/s", subj, peer, thousands(float64(rate))),
		figure: "p99 of the subject over the peer's, the same offered rate, per round",
		ids:    []string{"sys/" + subj, "sys/" + peer},
		values: ratioOf("sys/"+subj, name(subj), "sys/"+peer, name(peer), "p99-us@"+label),
		bound:  1, unit: "x",
	}
}

func targets() []target {
	e2e := func(sys string) string { return fmt.Sprintf("BenchmarkEndToEnd/sys=%s/pubs=1/size=256", sys) }
	dur := func(sys string, pubs int) string {
		return fmt.Sprintf("BenchmarkDurable/sys=%s/pubs=%d/size=256", sys, pubs)
	}
	out := []target{
		{name: "memory bus end to end vs Watermill GoChannel", figure: "msgs/s, 1 publisher, 1 subscriber, 256 B",
			ids: []string{"e2e/onexbus", "e2e/gochannel"}, values: ratioOf("e2e/onexbus", e2e("onexbus"), "e2e/gochannel", e2e("gochannel"), "msgs/s"),
			atLeast: true, bound: 10, unit: "x"},
		{name: "memory bus end to end vs a bare channel buffered by 1,024", figure: "msgs/s, as above",
			ids: []string{"e2e/onexbus", "e2e/chan"}, values: ratioOf("e2e/onexbus", e2e("onexbus"), "e2e/chan", e2e("chan"), "msgs/s"),
			atLeast: true, bound: 0.10, unit: "x"},
		{name: "durable PublishAsync vs raw bbolt chunked", figure: "msgs/s, 1 goroutine (async: 8,192 in flight; bbolt: 1,000 records per Update, 100 per value), fsync'd, 256 B",
			ids: []string{"durable/async", "durable/bbolt-chunk"}, values: ratioOf("durable/async", dur("onexbus-async", 1), "durable/bbolt-chunk", dur("bbolt-chunk", 1), "msgs/s"),
			atLeast: true, bound: 0.8, unit: "x"},
		{name: "16 synchronous publishers vs the baseline commit", figure: "msgs/s, 16 goroutines each Publish (sync policy), 256 B; baseline: its own bench module and library",
			ids: []string{"sync16/current", "sync16/baseline"}, values: ratioOf("sync16/current", dur("onexbus", 16), "sync16/baseline", dur("onexbus", 16), "msgs/s"),
			atLeast: true, bound: 1.7, unit: "x"},
		{name: "durable bus p99 at 50% of its own peak", figure: "open loop, synchronous publishers: 16, and another whenever a message is due and none is idle (up to 1,024), scheduled send to handler",
			ids: []string{"sys/onexbus"}, values: figureOf("sys/onexbus", "BenchmarkSystems/class=durable/sys=onexbus", "p99-us@50%", 1e-3),
			bound: 5, unit: "ms"},
		{name: "memory bus p99 at 50% of its own peak", figure: "open loop, 4 publishers, scheduled send to handler",
			ids: []string{"sys/onexbus-mem"}, values: figureOf("sys/onexbus-mem", "BenchmarkSystems/class=memory/sys=onexbus-mem", "p99-us@50%", 1e-3),
			bound: 1, unit: "ms"},
	}
	for _, l := range []string{"r10000", "r50000", "r200000"} {
		out = append(out, equalRate("memory", "onexbus-mem", "gochannel", l))
	}
	for _, l := range []string{"r1000", "r2000"} {
		out = append(out, equalRate("durable", "onexbus", "jetstream", l), equalRate("durable", "onexbus", "jetstream-syncalways", l))
	}
	for _, l := range []string{"r5000", "r20000"} {
		out = append(out, equalRate("kafka", "onexbusd-kafka", "kgo-kfake", l))
	}
	out = append(out, forwarderTargets("kafka")...)
	out = append(out,
		target{name: "reopen of a ~1 GiB log, every record inside the dedup window", figure: "bolt.Open + wal.Open, warm cache (wal BenchmarkReopen/dedup=all, open-ms)",
			ids: []string{"reopen"}, values: figureOf("reopen", "BenchmarkReopen/dedup=all", "open-ms", 1e-3), bound: 0.5, unit: "s"},
		target{name: "reopen of a ~1 GiB log, records older than the dedup window", figure: "as above, dedup=past",
			ids: []string{"reopen"}, values: figureOf("reopen", "BenchmarkReopen/dedup=past", "open-ms", 1e-3), bound: 0.5, unit: "s"},
	)
	return out
}

// forwarderTargets are the four rows of the Kafka forwarder against kgo,
// their figures taken from the cases of group: "kafka" for the targets,
// storedGroup for the same rows as the harness measured them before
// session 7 (an informational block), whose "same records" reference is
// kgo-async-hdrs-shared.
func forwarderTargets(group string) []target {
	kaf := func(sys string) string { return fmt.Sprintf("BenchmarkKafka/sys=%s/pubs=1/size=256", sys) }
	drain, compact, fwd, hdrs, plain := group+"/drain", group+"/drain-compact", group+"/fwd", group+"/kgo-hdrs", group+"/kgo"
	hdrsSys := "kgo-async-hdrs"
	if group == storedGroup {
		hdrsSys = "kgo-async-hdrs-shared"
	}
	return []target{
		{name: "Kafka forwarder vs kgo straight to kfake, the same records", figure: "msgs/s to acks=all, 256 B: the forwarder draining a backlog of a memory bus vs kgo producing the forwarder's records (its nine ONEX headers: what a consumer reads). The forwarder's records got their ids and timestamps from the bus before the clock; kgo makes them inside it (two UUIDs and a clock read, ~150-280 ns a record, 5-10% of kgo's cost): a bias in the forwarder's favour of that size",
			ids: []string{drain, hdrs}, values: ratioOf(drain, "BenchmarkForwarderDrain/sys=onexbus-fwd/size=256", hdrs, kaf(hdrsSys), "msgs/s"),
			atLeast: true, bound: 0.8, unit: "x"},
		{name: "Kafka forwarder vs kgo straight to kfake, kgo without headers", figure: "as above, kgo records without headers (the default headers stay: a compact encoding is an option only)",
			ids: []string{drain, plain}, values: ratioOf(drain, "BenchmarkForwarderDrain/sys=onexbus-fwd/size=256", plain, kaf("kgo-async"), "msgs/s"),
			atLeast: true, bound: 0.8, unit: "x"},
		{name: "Kafka forwarder with the HeadersCompact option vs kgo without headers", figure: "as above, the forwarder leaving out default-valued headers (opt-in: a consumer expecting all nine misses them)",
			ids: []string{compact, plain}, values: ratioOf(compact, "BenchmarkForwarderDrain/sys=onexbus-fwd-compact/size=256", plain, kaf("kgo-async"), "msgs/s"),
			atLeast: true, bound: 0.8, unit: "x"},
		{name: "publish + forward vs kgo straight to kfake, the same records", figure: "as the first, with the bus's Publish (one at a time, then the last ack) in the timed part",
			ids: []string{fwd, hdrs}, values: ratioOf(fwd, kaf("onexbus-fwd"), hdrs, kaf(hdrsSys), "msgs/s"),
			atLeast: true, bound: 0.8, unit: "x"},
	}
}

// writeReport writes the report and returns how many case runs failed.
func writeReport(w io.Writer, m meta, r *results, selected []benchCase) int {
	fmt.Fprintf(w, "# Issue 16 performance targets, %s\n\n", m.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Generated by `make bench-report` (bench/cmd/targets).\n\n")
	fmt.Fprintf(w, "- commit: %s (%s); baseline: %s (`BASELINE=%s`)\n", m.commit, m.describe, m.baseline, m.baselineArg)
	fmt.Fprintf(w, "- machine: %d cores, %s; %s; GOMAXPROCS = cores\n", m.cores, m.cpu, m.goVersion)
	fmt.Fprintf(w, "- load average (1, 5, 15 min): %s at the start, %s at the end\n", m.loadStart, m.loadEnd)
	fmt.Fprintf(w, "- %d rounds of every case, interleaved (each round runs every case once); figures are medians of the rounds, ratios medians of the per-round ratios [per-round values]\n", m.rounds)
	fmt.Fprintf(w, "- took %v (binaries built in %v); budget %v\n", m.elapsed.Round(time.Second), m.built.Round(time.Second), budget)
	if m.elapsed > budget {
		fmt.Fprintf(w, "- **over budget**: the run took longer than %v\n", budget)
	}
	if m.only != "" {
		fmt.Fprintf(w, "- **partial run**: only the cases matching `%s`\n", m.only)
	}
	fmt.Fprintf(w, "\n## Targets\n\n")
	fmt.Fprintf(w, "| target | measured | bound | met | per round | load (1 min) | figure |\n| --- | ---: | ---: | --- | --- | --- | --- |\n")
	met, missed, absent := 0, 0, 0
	for _, t := range targets() {
		if !hasAll(selected, t.ids) {
			continue
		}
		v := t.values(r)
		med, ok := median(v)
		verdict := "**no data**"
		measured := "n/a"
		if ok {
			measured = format(med, t.unit)
			pass := (t.atLeast && med >= t.bound) || (!t.atLeast && med <= t.bound)
			if pass {
				verdict = "yes"
				met++
			} else {
				verdict = "**MISSED**"
				missed++
			}
		} else {
			absent++
		}
		op := "<="
		if t.atLeast {
			op = ">="
		}
		per := make([]string, len(v))
		for i, x := range v {
			per[i] = format(x, t.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %s | [%s] | %s | %s |\n", t.name, measured, op, format(t.bound, t.unit), verdict,
			strings.Join(per, ", "), loadRange(r, t.ids), t.figure)
	}
	fmt.Fprintf(w, "\n%d met, %d missed, %d without data.\n", met, missed, absent)

	fmt.Fprintf(w, "\n## Throughput cases\n\ncpu-ns/msg is the process's CPU time (user and system) per message over the timed part: unlike msgs/s it does not count time taken by other work on the machine (the baseline's bench module does not report it).\n\n")
	fmt.Fprintf(w, "| case | sub-benchmark | msgs/s (median) | per round | cpu-ns/msg (median) | load (1 min) |\n| --- | --- | ---: | --- | ---: | --- |\n")
	for _, c := range selected {
		if strings.HasPrefix(c.id, "sys/") || c.id == "reopen" {
			continue
		}
		for name := range c.want {
			v := values(r.series(c.id, name, "msgs/s"))
			med, _ := median(v)
			cpu := "n/a"
			if cv, ok := median(values(r.series(c.id, name, "cpu-ns/msg"))); ok {
				cpu = thousands(cv)
			}
			fmt.Fprintf(w, "| %s | %s | %s | [%s] | %s | %s |\n", c.id, name, thousands(med), joinThousands(v), cpu, loadRange(r, []string{c.id}))
		}
	}
	writeInformational(w, r, selected)
	writeLatency(w, r, selected)
	writeReopen(w, r, selected)

	failed := 0
	var errs strings.Builder
	for _, c := range selected {
		for _, run := range r.runs[c.id] {
			if run.err != nil {
				failed++
				fmt.Fprintf(&errs, "### %s, round %d\n\n```\n%v\n```\n\n", c.id, run.round+1, run.err)
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "\n## FAILED runs (%d)\n\n%s", failed, errs.String())
	}
	return failed
}

// writeLatency writes the Systems children: peak, and per load the
// medians of achieved rate, p50, p99, the scheduler's p99 and the CPU per
// message, with the p99 of every round (how stable the row is).
func writeLatency(w io.Writer, r *results, selected []benchCase) {
	fmt.Fprintf(w, "\n## Open-loop latency (256 B; medians of the rounds, microseconds)\n\n")
	fmt.Fprintf(w, "Loads are shares of the system's own peak (50%%) or offered rates shared by its class (10,000/s). "+
		"Latency runs from each message's scheduled send time to its handler; sched p99 is the sleeping scheduler's own lateness, "+
		"part of every latency, and the bare channel (chan) is the floor it gives. "+
		"Each load runs on a fresh instance, lowest rate first, for at least %s messages (or 5 times its duration); "+
		"cpu-ns/msg is the child's CPU time (user and system, the harness's included) per message over the run.\n\n", thousands(minSamples))
	fmt.Fprintf(w, "publishers is the most publisher goroutines a run used (median of the rounds): a fixed pool's size, or what an elastic pool "+
		"(the durable class's synchronous publishers: another whenever a message is due and none is idle, up to 1,024) grew to; "+
		"a load marked fixed pool is the same load published by a fixed pool of the system's 16, as before the elastic pool.\n\n")
	fmt.Fprintf(w, "| system | peak msgs/s | peak RSS MB | load | offered msgs/s | achieved msgs/s | p50 | p99 | p99 per round | sched p99 | cpu-ns/msg | publishers | load (1 min) |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |\n")
	for _, c := range selected {
		if !strings.HasPrefix(c.id, "sys/") {
			continue
		}
		for name, units := range c.want {
			med := func(unit string) string {
				v, ok := median(values(r.series(c.id, name, unit)))
				if !ok {
					return "n/a"
				}
				return thousands(v)
			}
			peak, rss := med("peak-msgs/s"), med("peak-rss-MB")
			for _, u := range units {
				label, ok := strings.CutPrefix(u, "p99-us@")
				if !ok {
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | [%s] | %s | %s | %s | %s |\n", strings.TrimPrefix(c.id, "sys/"), peak, rss, loadText(label),
					med("offered-msgs/s@"+label), med("msgs/s@"+label),
					med("p50-us@"+label), med("p99-us@"+label), joinThousands(values(r.series(c.id, name, "p99-us@"+label))),
					med("sched-p99-us@"+label), med("cpu-ns/msg@"+label), med("pubs@"+label),
					loadRange(r, []string{c.id}))
				peak, rss = "", ""
			}
		}
	}
}

// loadText is a run's label for the reader: "50%", "1,000/s", and
// ", fixed pool" after either for a run of a fixed pool (fixedSuffix).
func loadText(label string) string {
	base, fixed := strings.CutSuffix(label, fixedSuffix)
	text := base
	if n, ok := strings.CutPrefix(base, "r"); ok {
		x, _ := strconv.Atoi(n)
		text = thousands(float64(x)) + "/s"
	}
	if fixed {
		text += ", fixed pool"
	}
	return text
}

// writeInformational writes the ratios that are no target: what kgo
// itself loses to the forwarder's headers (the bound of the forwarder's
// rows against kgo without headers), and kgo's transactional produce
// against its idempotent produce (issue 17).
func writeInformational(w io.Writer, r *results, selected []benchCase) {
	bounds := hasAll(selected, []string{"kafka/kgo", "kafka/kgo-hdrs", "kafka/kgo-compact"})
	txn := hasAll(selected, []string{"txn/produce"})
	fixed := hasAll(selected, []string{"sys/onexbus"})
	readOnly := hasAll(selected, []string{"e2e/onexbus-readonly", "e2e/gochannel", "e2e/chan"})
	stored := false
	for _, t := range forwarderTargets(storedGroup) {
		stored = stored || hasAll(selected, t.ids)
	}
	shared := hasAll(selected, []string{"kafka/kgo-hdrs-shared"})
	if !bounds && !txn && !fixed && !readOnly && !stored && !shared {
		return
	}
	fmt.Fprintf(w, "\n## Informational (no target)\n\n")
	if readOnly {
		writeReadOnly(w, r)
	}
	if fixed {
		var peers []string
		for _, p := range []string{"jetstream", "jetstream-syncalways"} {
			if hasAll(selected, []string{"sys/" + p}) {
				peers = append(peers, p)
			}
		}
		writeFixedPool(w, r, peers)
	}
	if bounds {
		writeHeaderBounds(w, r)
	}
	if stored {
		writeStoredKfake(w, r, selected)
	}
	if shared {
		writeSharedHeaders(w, r, selected)
	}
	if txn {
		writeTxnRatios(w, r)
	}
}

// writeReadOnly writes the memory bus's end-to-end rows with a group of
// read-only handlers (core.SubscribeReadOnly, which takes the log's bytes
// instead of a copy), against the same peers in the same rounds. The
// target rows measure the default, which copies.
func writeReadOnly(w io.Writer, r *results) {
	e2e := func(sys string) string { return fmt.Sprintf("BenchmarkEndToEnd/sys=%s/pubs=1/size=256", sys) }
	fmt.Fprintf(w, "The memory bus end to end with core.SubscribeReadOnly (Key and Value alias the log instead of a copy; "+
		"msgs/s, 1 publisher, 1 subscriber, 256 B, per-round ratios; the target rows above use the default).\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	for _, peer := range []string{"gochannel", "chan"} {
		v := paired(r.series("e2e/onexbus-readonly", e2e("onexbus-readonly"), "msgs/s"), r.series("e2e/"+peer, e2e(peer), "msgs/s"))
		fmt.Fprintf(w, "| memory bus with SubscribeReadOnly vs %s | %s | [%s] | %s |\n", peer, medianText(v), roundsText(v),
			loadRange(r, []string{"e2e/onexbus-readonly", "e2e/" + peer}))
	}
	fmt.Fprintln(w)
}

// writeFixedPool writes the latency rows of the durable class's
// synchronous publishers as the harness measured them before the elastic
// pool: 16 fixed publishers, so that a message due while all 16 waited
// in a commit waited in the harness's queue. The same figures as the
// targets, from runs of the same children in the same rounds.
func writeFixedPool(w io.Writer, r *results, peers []string) {
	sys := func(s string) string { return "BenchmarkSystems/class=durable/sys=" + s }
	fmt.Fprintf(w, "The durable targets with a fixed pool of 16 synchronous publishers (the harness before the elastic pool; "+
		"the same children and rounds as the targets, a run of its own for each load).\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	v := values(r.series("sys/onexbus", sys("onexbus"), "p99-us@50%"+fixedSuffix))
	for i := range v {
		v[i] *= 1e-3
	}
	med := "n/a"
	if m, ok := median(v); ok {
		med = format(m, "ms")
	}
	per := make([]string, len(v))
	for i, x := range v {
		per[i] = format(x, "ms")
	}
	fmt.Fprintf(w, "| durable bus p99 at 50%% of its own peak, fixed pool of 16 | %s | [%s] | %s |\n", med, strings.Join(per, ", "), loadRange(r, []string{"sys/onexbus"}))
	for _, l := range []string{"r1000", "r2000"} {
		for _, p := range peers {
			u := "p99-us@" + l + fixedSuffix
			v := paired(r.series("sys/onexbus", sys("onexbus"), u), r.series("sys/"+p, sys(p), u))
			fmt.Fprintf(w, "| onexbus p99 vs %s at %s, both fixed pools of 16 | %s | [%s] | %s |\n", p, loadText(l), medianText(v), roundsText(v),
				loadRange(r, []string{"sys/onexbus", "sys/" + p}))
		}
	}
	fmt.Fprintln(w)
}

// writeHeaderBounds writes kgo carrying the forwarder's headers against
// kgo without any, per round: a forwarder that cost nothing of its own
// would reach these ratios against kgo without headers, so they bound
// the rows "Kafka forwarder (with the HeadersCompact option) vs kgo
// without headers".
func writeHeaderBounds(w io.Writer, r *results) {
	kaf := func(sys string) string { return fmt.Sprintf("BenchmarkKafka/sys=%s/pubs=1/size=256", sys) }
	fmt.Fprintf(w, "kgo producing the forwarder's records vs kgo producing them without headers (msgs/s, 256 B, per-round ratios): "+
		"the most the forwarder can reach against kgo without headers while it writes these headers.\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	plain := r.series("kafka/kgo", kaf("kgo-async"), "msgs/s")
	for _, row := range []struct{ id, sys, label string }{
		{"kafka/kgo-hdrs", "kgo-async-hdrs", "kgo with the nine default text headers vs kgo without"},
		{"kafka/kgo-compact", "kgo-async-compact", "kgo with the four HeadersCompact headers vs kgo without"},
	} {
		v := paired(r.series(row.id, kaf(row.sys), "msgs/s"), plain)
		fmt.Fprintf(w, "| %s | %s | [%s] | %s |\n", row.label, medianText(v), roundsText(v), loadRange(r, []string{row.id, "kafka/kgo"}))
	}
	fmt.Fprintln(w)
}

// writeStoredKfake writes the forwarder's rows as the harness measured
// them before session 7 (oldKafkaEnv: kfake storing every record it was
// sent in the benchmark's own heap, BenchmarkKafka timing a fresh
// process's first messages), beside the targets above; the same rounds.
func writeStoredKfake(w io.Writer, r *results, selected []benchCase) {
	fmt.Fprintf(w, "The Kafka forwarder's rows as the harness measured them before session 7: kfake storing every record in the benchmark's process "+
		"and BenchmarkKafka without its warm-up, so that the collector's first cycles, at a heap growing with the run (kfake's, and the memory bus's), "+
		"fell in the timed part (msgs/s, 256 B, per-round ratios).\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	for _, t := range forwarderTargets(storedGroup) {
		if !hasAll(selected, t.ids) {
			continue
		}
		v := t.values(r)
		fmt.Fprintf(w, "| %s, the harness before | %s | [%s] | %s |\n", t.name, medianText(v), roundsText(v), loadRange(r, t.ids))
	}
	fmt.Fprintln(w)
}

// writeSharedHeaders writes the two "same records" rows against their
// reference before session 7, kgo putting one header set on every record
// (the same message_id, correlation_id and timestamp each time), where
// the targets' kgo-async-hdrs writes each record's own as the forwarder
// does; the same rounds.
func writeSharedHeaders(w io.Writer, r *results, selected []benchCase) {
	kaf := func(sys string) string { return fmt.Sprintf("BenchmarkKafka/sys=%s/pubs=1/size=256", sys) }
	fmt.Fprintf(w, "The forwarder's \"same records\" rows against kgo putting one header set on every record (one message_id for all), "+
		"their reference before session 7; the targets' reference writes each record's own ids and timestamp, as the forwarder does (msgs/s, 256 B, per-round ratios).\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	ref := r.series("kafka/kgo-hdrs-shared", kaf("kgo-async-hdrs-shared"), "msgs/s")
	for _, row := range []struct{ id, name, label string }{
		{"kafka/drain", "BenchmarkForwarderDrain/sys=onexbus-fwd/size=256", "Kafka forwarder vs kgo with one shared header set"},
		{"kafka/fwd", kaf("onexbus-fwd"), "publish + forward vs kgo with one shared header set"},
		{"kafka/kgo-hdrs", kaf("kgo-async-hdrs"), "kgo writing each record's headers vs kgo with one shared header set"},
	} {
		if !hasAll(selected, []string{row.id}) {
			continue
		}
		v := paired(r.series(row.id, row.name, "msgs/s"), ref)
		fmt.Fprintf(w, "| %s | %s | [%s] | %s |\n", row.label, medianText(v), roundsText(v), loadRange(r, []string{row.id, "kafka/kgo-hdrs-shared"}))
	}
	fmt.Fprintln(w)
}

// medianText is the median of v as a ratio, n/a without values.
func medianText(v []float64) string {
	if med, ok := median(v); ok {
		return format(med, "x")
	}
	return "n/a"
}

// roundsText is v's ratios, comma-separated.
func roundsText(v []float64) string {
	per := make([]string, len(v))
	for i, x := range v {
		per[i] = format(x, "x")
	}
	return strings.Join(per, ", ")
}

// writeTxnRatios writes kgo's transactional produce against its
// idempotent produce, per round.
func writeTxnRatios(w io.Writer, r *results) {
	fmt.Fprintf(w, "Transactional vs idempotent produce: kgo to one broker (bbolt, fsync), 100,000 records of 100 B over 4 partitions, "+
		"a transaction committed every N records (AddPartitionsToTxn, Flush, an fsync'd EndTxn), per-round ratios.\n\n")
	fmt.Fprintf(w, "| figure | measured | per round | load (1 min) |\n| --- | ---: | --- | --- |\n")
	idem := r.series("txn/produce", txnProduce("idempotent"), "msgs/s")
	for _, sub := range []string{"txn-10000", "txn-1000"} {
		v := paired(r.series("txn/produce", txnProduce(sub), "msgs/s"), idem)
		fmt.Fprintf(w, "| %s vs idempotent | %s | [%s] | %s |\n", sub, medianText(v), roundsText(v), loadRange(r, []string{"txn/produce"}))
	}
}

func writeReopen(w io.Writer, r *results, selected []benchCase) {
	if !hasAll(selected, []string{"reopen"}) {
		return
	}
	fmt.Fprintf(w, "\n## Reopen (wal BenchmarkReopen, ONEXBUS_BENCH_BIG=1)\n\n| sub-benchmark | file MiB | open ms (median) | per round |\n| --- | ---: | ---: | --- |\n")
	for _, name := range []string{"BenchmarkReopen/dedup=past", "BenchmarkReopen/dedup=all"} {
		v := values(r.series("reopen", name, "open-ms"))
		med, _ := median(v)
		size, _ := median(values(r.series("reopen", name, "file-MiB")))
		fmt.Fprintf(w, "| %s | %.0f | %.0f | [%s] |\n", name, size, med, joinThousands(v))
	}
}

func hasAll(selected []benchCase, ids []string) bool {
	for _, id := range ids {
		found := false
		for _, c := range selected {
			found = found || c.id == id
		}
		if !found {
			return false
		}
	}
	return true
}

func loadRange(r *results, ids []string) string {
	lo, hi := -1.0, -1.0
	for _, id := range ids {
		l, h := r.loads(id)
		if l >= 0 && (lo < 0 || l < lo) {
			lo = l
		}
		hi = max(hi, h)
	}
	if lo < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f-%.1f", lo, hi)
}

func format(v float64, unit string) string {
	switch unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "s":
		return fmt.Sprintf("%.3f s", v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func joinThousands(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = thousands(x)
	}
	return strings.Join(s, ", ")
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
