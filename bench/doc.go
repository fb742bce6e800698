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
//   - EndToEnd and Publish: the memory bus vs Watermill's GoChannel.
//   - Durable: onexbus on bbolt (sync policy; also PublishBatch) vs raw
//     bbolt (1,000 records per fsync'd Update, one key per record or 100
//     records per value) vs embedded NATS JetStream on a file store (its
//     default 2-minute sync, and SyncAlways), synchronous publishes from
//     the same number of goroutines.
//   - Kafka: kgo producing to kfake, async and sync, vs onexbus's memory
//     bus through transport/kafka's Forwarder (build tag forwarder, set by
//     make bench-peers when transport/kafka/forwarder.go exists).
//   - Systems: each system alone in a child process (this test binary
//     re-executed with ONEXBUS_BENCH_CHILD naming it), so that its peaks
//     are its own: a peak phase (a fixed message count, closed loop) that
//     gives peak msgs/s, peak RSS (VmHWM) and peak Go heap, then for the
//     memory bus, GoChannel, the durable bus and JetStream, open-loop
//     runs at 10, 50 and 90% of that peak. Open loop: a scheduler releases
//     message i at start + i/rate whatever the publishers are doing, and
//     latency is measured from that scheduled time to the handler, so a
//     stall counts for every message scheduled during it (no coordinated
//     omission).
//
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
//
// ONEXBUS_BENCH_QUICK=1 shortens the children's phases (QUICK=1 sets it).
//
// # Caveats
//
// The bench module replaces github.com/onexbus/onexbus with ../: it measures
// the working tree, committed or not. Benchmarks share the machine with
// whatever else runs on it; the report records the load average. The
// scheduler of an open-loop run spins (with runtime.Gosched) for the last
// millisecond before each send, which takes CPU from the system under test
// on a small machine. JetStream's default sync and kgo-async do not wait
// for an fsync: they are not durable the way the sync policy is.
package bench
