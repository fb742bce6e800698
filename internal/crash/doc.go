// Package crash holds the end-to-end crash and soak tests of onexbusd
// (issue 20): the real binary, built with go build, is killed with
// SIGKILL at random points while Kafka clients (kgo) and HTTP clients
// publish unique values under keys and a Kafka consumer group consumes
// them; after every restart the history is checked with package checker
// (nothing acknowledged lost, no duplicates beyond at-least-once, per-key
// order, offsets and cursors). The package has no non-test code besides
// this doc; run it with make crash (CYCLES, SEED) and make soak
// (DURATION).
package crash
