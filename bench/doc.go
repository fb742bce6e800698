// Package bench compares onexbus with peer systems. It is its own module so
// that the peers' dependencies stay out of the library's go.mod; it holds
// only benchmarks and the report tool (cmd/report).
//
// # Model
//
// Each benchmark is a table of systems x message sizes (x publishers). A
// system is a peer value (peers_test.go): open starts a fresh instance with
// one subscriber and returns an instance that publishes a payload; the
// subscriber reports each message it has handled and acknowledged. Adding a
// system (NATS JetStream, raw bbolt, kfake) is one file with its peer and a
// line in the peers table.
//
// The benchmarks:
//
//   - EndToEnd and Publish: the memory bus vs Watermill's GoChannel and a
//     bare Go channel buffered by 1,024 (sys=chan, the floor of any
//     in-process bus); sys=onexbus-readonly is the memory bus with a
//     group of read-only handlers (core.SubscribeReadOnly: Key and Value
//     alias the log), informational, beside the default that the targets
//     measure.
//   - Durable: onexbus on bbolt (sync policy; synchronous Publish,
//     PublishAsync with at most 8,192 in flight, and PublishBatch) vs raw
//     bbolt (1,000 records per fsync'd Update, one key per record or 100
//     records per value) vs embedded NATS JetStream on a file store (its
//     default 2-minute sync, and SyncAlways), synchronous publishes from
//     the same number of goroutines.
//   - Kafka: kgo producing to kfake, async and sync, with no headers and
//     with the forwarder's nine ONEX text headers (kgo-async-hdrs: the
//     forwarder's own records, each with its own message_id,
//     correlation_id and timestamp; kgo-async-hdrs-shared: one header set
//     on every record, the reference before session 7) or the four it
//     writes under kafka.HeadersCompact (kgo-async-compact), vs onexbus's
//     memory bus through
//     transport/kafka's Forwarder (build tag forwarder, set by make
//     bench-peers when transport/kafka/forwarder.go exists).
//   - Systems: each system alone in a child process (this test binary
//     re-executed with ONEXBUS_BENCH_CHILD naming it), so that its peaks
//     are its own: a peak phase (a fixed message count, closed loop) that
//     gives peak msgs/s, peak RSS (VmHWM) and peak Go heap, then for the
//     latency systems open-loop runs at 10, 50 and 90% of that peak and
//     at the class's equal offered rates (classRates), lowest rate first,
//     each on a fresh instance (so no run inherits the stored messages,
//     backlog or garbage of the peak phase or of a heavier run), with the
//     process's CPU per message (cpu-ns/msg@load). Open loop: a
//     scheduler releases message i at start + i/rate whatever the
//     publishers are doing, and latency is measured from that scheduled
//     time to the handler, so a stall counts for every message scheduled
//     during it (no coordinated omission). Publisher goroutines take the
//     released messages: a fixed pool of the system's publishers, except
//     for the durable class's synchronous publishers (onexbus, JetStream
//     and JetStream SyncAlways alike), whose pool starts at 16 and adds a
//     publisher whenever a message is due and none is idle, up to 1,024,
//     as independent clients or a server's handler goroutines would: with
//     16 fixed ones, a message due while all 16 waited in a commit waited
//     in the harness's queue, which the system never saw (the peak phase
//     keeps its 16). Each run reports how many publishers it used. The
//     scheduler sleeps between sends (the runtime's timer, with a timerfd
//     alarm in the poller that wakes an idle process; no spinning;
//     BenchmarkSleeper), and its own
//     lateness is reported (sched-p99-us); the bare channel run through
//     it (sys=chan, rates only) is its floor. The latency systems: the
//     memory bus, GoChannel, chan; the durable bus with synchronous
//     publishers (16 in the peak phase) and with PublishAsync, JetStream (default sync and
//     SyncAlways); onexbusd over the Kafka wire (transport/kafka/broker in
//     process, on a memory bus and on bbolt, produced to and consumed
//     from with kgo) against kgo on kfake; and the HTTP API
//     (transport/http on 127.0.0.1: one POST per message, a pull group
//     drained by receive and ack).

// Sub-benchmark names are key=value (sys=, pubs=, size=, class=) so that
// cmd/report and benchstat can group them. cmd/report writes
// results/latest.md, the plot results/latency.svg (hand-written SVG) and
// the README's performance section.
//
// # Running
//
// From the repository root:
//
//	make bench-peers          # -count 3, writes bench/results/latest.md
//	make bench-peers QUICK=1  # one short run of each, under a minute
//	make bench-report         # issue 16's targets, bench/results/<date>-report.md
//
// make bench-report (cmd/targets) is the one command for the performance
// targets: it builds this module's test binary, the wal package's (its
// BenchmarkReopen of a ~1 GiB log) and the bench module of the BASELINE
// commit (default the start of the performance work) against that
// commit's library, then runs 3 rounds of every case, each case its own
// process with a fixed message count (bounded time and memory), every
// case once per round so that a figure and its reference run back to
// back. Figures are medians of the rounds, ratios medians of the
// per-round ratios; the report gives each against its target with the
// per-round values and the load average, the machine (cores, CPU, Go
// version) and the commit. A case that fails makes it exit non-zero after
// the rest ran, with the failure in the report. The rows: EndToEnd pubs=1
// size=256 (onexbus, gochannel, chan); Durable pubs=1 (onexbus-async,
// bbolt-chunk) and pubs=16 (onexbus, here and at BASELINE);
// ForwarderDrain (the forwarder draining a backlog, with the default text
// headers and with kafka.HeadersCompact) and Kafka pubs=1
// (onexbus-fwd, kgo-async-hdrs, kgo-async); the Systems children at 50%
// and 90% of their peaks and at their class's equal rates, each run 2 s
// or 10,000 messages (at most 10 s), whichever is longer; wal
// BenchmarkReopen.
//
// ONEXBUS_BENCH_QUICK=1 shortens the children's phases (QUICK=1 sets it).
// ONEXBUS_BENCH_LOADS (percentages, comma-separated, or none) replaces 10,50,90,
// ONEXBUS_BENCH_RATES (msgs/s, comma-separated, or none) every class's equal rates,
// ONEXBUS_BENCH_LOAD_DURATION the length of each open-loop run, and
// ONEXBUS_BENCH_SYSTEMS (names) limits BenchmarkSystems to those systems,
// ONEXBUS_BENCH_FIXED (loads: 50%, r1000) makes a system with an elastic
// pool run those loads again with its fixed pool (labels 50%/fixed,
// r1000/fixed; the report's informational rows),
// ONEXBUS_BENCH_TRACE (a file) makes a child write a runtime execution
// trace of its open-loop runs (go tool trace; -pprof=sched gives each
// goroutine's wait for a P, the open-loop scheduler's among them),
// ONEXBUS_BENCH_CPUPROFILE (a file) a CPU profile of them and
// ONEXBUS_BENCH_MUTEXPROFILE (a file) a mutex profile of them (every
// contention: the delay each Unlock made its waiters wait).
// ONEXBUS_BENCH_KFAKE_STORE=1 makes the produce-only Kafka rows
// (BenchmarkKafka, BenchmarkForwarderDrain, the kafka class's onexbus-fwd
// and kgo-async peaks) give kfake a store, as before; by default their
// kfake acknowledges and drops what it is sent (kfake.BlackholeProduce),
// so that the fake broker's store, in the benchmark's own heap, does not
// drive the collector of the systems measured, and
// ONEXBUS_BENCH_KAFKA_WARMUP=0 makes BenchmarkKafka time a fresh process,
// as before, instead of after a warm-up of as many messages (make
// bench-report shows the rows both ways).
//
// # Caveats
//
// The bench module replaces github.com/onexbus/onexbus with ../: it measures
// the working tree, committed or not. Benchmarks share the machine with
// whatever else runs on it; the report records the load average. A
// sleeping scheduler wakes late when the machine is busy: read each
// latency next to its sched p99 and the chan floor. JetStream's default
// sync, kfake and kgo-async do not wait for an fsync: they are not
// durable the way the sync policy is.
package bench
