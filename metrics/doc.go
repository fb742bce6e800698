// Package metrics exposes onexbus's signals to Prometheus: the catalogue
// of ../shared/research/daemon-interfaces.md section 2 under the onexbus_
// prefix (onexbusd_ for the daemon's own series), in base units, with
// bounded labels.
//
// # Two sources
//
// Events are counted as they happen through core's hooks (publishes and
// their durable latency, commits and fsyncs, deliveries and handler
// outcomes, breaker transitions, dead letters, retention): pass the
// Metrics to core.WithHooks. Levels are read at scrape time by
// collectors (log sizes and offsets, consumer lag in messages and in
// seconds, breaker states, dead-letter queue size and age, store size
// and disk free): call Observe with the bus. A build that does not import
// this package pays nothing: core only calls hooks that are set.
//
// # Labels and cost
//
// Labels are topic, group and small enums. Partition labels are opt-in
// (WithPartitionLabels): off, series grow with topics × groups, never
// with partitions, keys, ids or error text. Histograms carry no topic.
// A scrape reads each partition's offsets and, for each group with lag,
// one record (its oldest unconsumed message's timestamp); the dead-letter
// queue is walked at most once per WithDLQInterval (default 15 s) and up
// to WithDLQScanLimit letters.
package metrics
