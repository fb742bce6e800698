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
// Sub-benchmark names are key=value (sys=, pubs=, size=) so that
// cmd/report and benchstat can group them.
//
// # Running
//
// From the repository root:
//
//	make bench-peers          # -count 3, writes bench/results/latest.md
//	make bench-peers QUICK=1  # short -benchtime, under a minute
//
// # Caveats
//
// The bench module replaces github.com/onexbus/onexbus with ../: it measures
// the working tree, committed or not. Benchmarks share the machine with
// whatever else runs on it; the report records the load average.
package bench
