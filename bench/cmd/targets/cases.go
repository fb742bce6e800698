package main

import (
	"fmt"
	"slices"
	"strings"
)

// A binary is one test executable the run builds: the bench module's
// (the working tree), the wal package's, and the bench module of the
// baseline commit against that commit's library.
type binary string

const (
	benchBin  binary = "bench"
	walBin    binary = "wal"
	baseBin   binary = "base"
	brokerBin binary = "broker" // transport/kafka/broker's tests
)

// A benchCase is one invocation of a test binary, run once per round.
type benchCase struct {
	id    string // the key of its figures in the report
	bin   binary
	bench string // -test.bench
	n     int    // -test.benchtime Nx
	env   []string
	// want are the sub-benchmarks (names without the -procs suffix) and
	// units the run must report; a missing one fails the case.
	want map[string][]string
}

// Open-loop plan of the Systems children in the report: the loads of
// issue 16's targets (50%) and the 90% row, plus every class's equal
// offered rates (bench/child_test.go classRates), each for loadDuration
// or, at a lower rate, long enough for minSamples messages (the child's
// runDuration).
const (
	reportLoads  = "50,90"
	loadDuration = "2s"
	minSamples   = 10_000 // bench/child_test.go minSamples
)

// storedGroup prefixes the ids of the forwarder's Kafka cases run as the
// harness ran them before session 7 (oldKafkaEnv: kfake storing every
// record, BenchmarkKafka without its warm-up): an informational block
// beside the targets.
const storedGroup = "kafka-stored"

// oldKafkaEnv is the environment of the storedGroup cases.
var oldKafkaEnv = []string{"ONEXBUS_BENCH_KFAKE_STORE=1", "ONEXBUS_BENCH_KAFKA_WARMUP=0"}

const e2e = "BenchmarkEndToEnd/sys=%s/pubs=1/size=256"

// txnProduce names a sub-benchmark of the broker's BenchmarkKgoTxnProduce.
func txnProduce(sub string) string { return "BenchmarkKgoTxnProduce/" + sub }

// throughput names a throughput sub-benchmark and its msgs/s unit.
func throughput(format, sys string) map[string][]string {
	return map[string][]string{fmt.Sprintf(format, sys): {"msgs/s"}}
}

// fixedSuffix ends the label of a run with the fixed pool of publishers
// of a system whose open-loop pool is elastic (bench/child_test.go
// fixedSuffix): "50%/fixed", "r1000/fixed".
const fixedSuffix = "/fixed"

// systemCase is one Systems child: its peak and its open-loop runs. A
// label ending in fixedSuffix is a run of the child's fixed pool
// (ONEXBUS_BENCH_FIXED), the harness's figure before the elastic pool.
func systemCase(class, sys string, labels ...string) benchCase {
	name := fmt.Sprintf("BenchmarkSystems/class=%s/sys=%s", class, sys)
	units := []string{"peak-msgs/s", "peak-rss-MB"}
	// A case whose labels are all offered rates (JetStream SyncAlways,
	// reported at its class's rates only) runs no share of its peak: the
	// child would spend its longest runs on figures nobody reads.
	loads := "none"
	var fixed []string
	for _, l := range labels {
		units = append(units, "p50-us@"+l, "p99-us@"+l, "sched-p99-us@"+l, "msgs/s@"+l, "cpu-ns/msg@"+l, "pubs@"+l)
		if base, ok := strings.CutSuffix(l, fixedSuffix); ok {
			fixed = append(fixed, base)
		} else if strings.HasSuffix(l, "%") {
			loads = reportLoads
		}
	}
	env := []string{"ONEXBUS_BENCH_LOADS=" + loads, "ONEXBUS_BENCH_LOAD_DURATION=" + loadDuration}
	if len(fixed) > 0 {
		env = append(env, "ONEXBUS_BENCH_FIXED="+strings.Join(fixed, ","))
	}
	return benchCase{
		id: "sys/" + sys, bin: benchBin, bench: "^BenchmarkSystems$/^class=" + class + "$/^sys=" + sys + "$", n: 1,
		env: env, want: map[string][]string{name: units},
	}
}

// cases are every figure of issue 16's targets, in run order: each
// round runs them all, so paired figures (a system and its reference)
// run back to back, under the same machine load.
func cases() []benchCase {
	mem := []string{"50%", "90%", "r10000", "r50000", "r200000"}
	dur := []string{"50%", "90%", "r1000", "r2000"}
	// The durable class's synchronous publishers (onexbus, JetStream)
	// publish from an elastic pool; the fixed pool of 16 of the earlier
	// harness is run too for the rows it changed, an informational block.
	durFixed := []string{"50%" + fixedSuffix, "r1000" + fixedSuffix, "r2000" + fixedSuffix}
	kaf := []string{"50%", "90%", "r5000", "r20000"}
	durable := "BenchmarkDurable/sys=%s/pubs=%d/size=256"
	kafka := "BenchmarkKafka/sys=%s/pubs=1/size=256"
	all := []benchCase{
		{id: "e2e/onexbus", bin: benchBin, bench: "^BenchmarkEndToEnd$/^sys=onexbus$/^pubs=1$/^size=256$", n: 300_000, want: throughput(e2e, "onexbus")},
		// Informational: the same with core.SubscribeReadOnly (a handler
		// that only reads the payload during the call gets the log's bytes).
		{id: "e2e/onexbus-readonly", bin: benchBin, bench: "^BenchmarkEndToEnd$/^sys=onexbus-readonly$/^pubs=1$/^size=256$", n: 300_000, want: throughput(e2e, "onexbus-readonly")},
		{id: "e2e/gochannel", bin: benchBin, bench: "^BenchmarkEndToEnd$/^sys=gochannel$/^pubs=1$/^size=256$", n: 100_000, want: throughput(e2e, "gochannel")},
		{id: "e2e/chan", bin: benchBin, bench: "^BenchmarkEndToEnd$/^sys=chan$/^pubs=1$/^size=256$", n: 3_000_000, want: throughput(e2e, "chan")},
		{id: "durable/async", bin: benchBin, bench: "^BenchmarkDurable$/^sys=onexbus-async$/^pubs=1$/^size=256$", n: 200_000,
			want: map[string][]string{fmt.Sprintf(durable, "onexbus-async", 1): {"msgs/s"}}},
		{id: "durable/bbolt-chunk", bin: benchBin, bench: "^BenchmarkDurable$/^sys=bbolt-chunk$/^pubs=1$/^size=256$", n: 200_000,
			want: map[string][]string{fmt.Sprintf(durable, "bbolt-chunk", 1): {"msgs/s"}}},
		{id: "sync16/current", bin: benchBin, bench: "^BenchmarkDurable$/^sys=onexbus$/^pubs=16$/^size=256$", n: 20_000,
			want: map[string][]string{fmt.Sprintf(durable, "onexbus", 16): {"msgs/s"}}},
		{id: "sync16/baseline", bin: baseBin, bench: "^BenchmarkDurable$/^sys=onexbus$/^pubs=16$/^size=256$", n: 20_000,
			want: map[string][]string{fmt.Sprintf(durable, "onexbus", 16): {"msgs/s"}}},
		{id: "kafka/drain", bin: benchBin, bench: "^BenchmarkForwarderDrain$/^sys=onexbus-fwd$/^size=256$", n: 200_000,
			want: map[string][]string{"BenchmarkForwarderDrain/sys=onexbus-fwd/size=256": {"msgs/s"}}},
		{id: "kafka/drain-compact", bin: benchBin, bench: "^BenchmarkForwarderDrain$/^sys=onexbus-fwd-compact$/^size=256$", n: 200_000,
			want: map[string][]string{"BenchmarkForwarderDrain/sys=onexbus-fwd-compact/size=256": {"msgs/s"}}},
		{id: "kafka/fwd", bin: benchBin, bench: "^BenchmarkKafka$/^sys=onexbus-fwd$/^pubs=1$/^size=256$", n: 200_000, want: throughput(kafka, "onexbus-fwd")},
		{id: "kafka/kgo-hdrs", bin: benchBin, bench: "^BenchmarkKafka$/^sys=kgo-async-hdrs$/^pubs=1$/^size=256$", n: 200_000, want: throughput(kafka, "kgo-async-hdrs")},
		// Informational: the "same records" reference before session 7,
		// one header set (one message_id) on every record.
		{id: "kafka/kgo-hdrs-shared", bin: benchBin, bench: "^BenchmarkKafka$/^sys=kgo-async-hdrs-shared$/^pubs=1$/^size=256$", n: 200_000, want: throughput(kafka, "kgo-async-hdrs-shared")},
		{id: "kafka/kgo", bin: benchBin, bench: "^BenchmarkKafka$/^sys=kgo-async$/^pubs=1$/^size=256$", n: 200_000, want: throughput(kafka, "kgo-async")},
		// Informational: kgo with the compact forwarder's four headers,
		// the bound of the compact row as kafka/kgo-hdrs is the default's.
		{id: "kafka/kgo-compact", bin: benchBin, bench: "^BenchmarkKafka$/^sys=kgo-async-compact$/^pubs=1$/^size=256$", n: 200_000, want: throughput(kafka, "kgo-async-compact")},
	}
	// Informational: the forwarder's rows as the harness measured them
	// before it dropped kfake's store and warmed BenchmarkKafka up.
	// Its kgo-hdrs is the reference of then, one shared header set.
	for _, id := range []string{"kafka/drain", "kafka/drain-compact", "kafka/fwd", "kafka/kgo-hdrs-shared", "kafka/kgo"} {
		c := all[slices.IndexFunc(all, func(c benchCase) bool { return c.id == id })]
		c.id = storedGroup + strings.TrimSuffix(strings.TrimPrefix(id, "kafka"), "-shared")
		c.env = append(slices.Clip(c.env), oldKafkaEnv...)
		all = append(all, c)
	}
	return append(all, []benchCase{
		systemCase("memory", "onexbus-mem", mem...),
		systemCase("memory", "gochannel", mem...),
		systemCase("memory", "chan", mem[2:]...),
		systemCase("durable", "onexbus", append(dur, durFixed...)...),
		systemCase("durable", "onexbus-async", dur...),
		systemCase("durable", "jetstream", append(dur, durFixed[1:]...)...),
		systemCase("durable", "jetstream-syncalways", append(dur[2:], durFixed[1:]...)...),
		systemCase("kafka", "onexbusd-kafka", kaf...),
		systemCase("kafka", "onexbusd-kafka-durable", kaf...),
		systemCase("kafka", "kgo-kfake", kaf...),
		systemCase("http", "onexbus-http", "50%", "90%"),
		// Informational (issue 17, no target): kgo's transactional produce
		// against its idempotent produce, same broker, same round.
		{id: "txn/produce", bin: brokerBin, bench: "^BenchmarkKgoTxnProduce$", n: 3, want: map[string][]string{
			txnProduce("idempotent"): {"msgs/s"}, txnProduce("txn-10000"): {"msgs/s"}, txnProduce("txn-1000"): {"msgs/s"}}},
		{id: "reopen", bin: walBin, bench: "^BenchmarkReopen$", n: 3, env: []string{"ONEXBUS_BENCH_BIG=1"},
			want: map[string][]string{"BenchmarkReopen/dedup=past": {"open-ms", "file-MiB"}, "BenchmarkReopen/dedup=all": {"open-ms", "file-MiB"}}},
	}...)
}
