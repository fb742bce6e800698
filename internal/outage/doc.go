// Package outage holds the upstream-outage test of fronting Kafka
// (issue 20): a bus on a bbolt file forwards to kfake through a listener
// that cuts, resets and delays connections, under a keyed workload
// recorded by package checker; after the outage the upstream topic is
// read back and checked (nothing acknowledged lost, order per key kept)
// and the backlog budget's policy is checked. It has no code besides its
// tests.
package outage
