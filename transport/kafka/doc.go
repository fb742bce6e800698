// Package kafka connects a core.Bus to an upstream Kafka cluster with
// franz-go: a Forwarder copies the local log to Kafka (store and forward),
// an Ingest copies Kafka topics into the local log, an Admin manages
// topics and reports lag, and Config loads the original system's KAFKA_*
// variables.
//
// # Model
//
// The local log is the single source of truth. Publish returns when a
// message is durable locally; the Forwarder then reads each partition of
// each forwarded topic from its own position (kept in the log under a
// group name, like a consumer group's cursor) and produces to Kafka. The
// position moves only after Kafka acknowledged every record before it.
// Ingest is a Kafka consumer group whose offsets are committed only after
// PublishBatch returned, that is after the records are durable locally.
//
// # Guarantees
//
//   - Forwarding is at least once and in order per partition: a message
//     is produced again after a restart or a failed produce if its ack was
//     not recorded; with the idempotent producer (the default) Kafka drops
//     the retries of one producer session. Messages with the same key keep
//     their order in Kafka.
//   - While Kafka is unreachable the forwarder backs off exponentially
//     and, after KAFKA_CIRCUIT_BREAKER_THRESHOLD consecutive failures,
//     opens its breaker: one probe per reset timeout, no hammering. Local
//     publishes keep succeeding; the backlog drains in order on return.
//   - Ingest is at least once: a crash between the local append and the
//     Kafka commit re-ingests those records, and the bus's message_id
//     dedup window stores them once. Records without a message_id get one
//     derived from (topic, partition, offset), so they dedup too.
//
// # Caveats
//
//   - The backlog budget is enforced by Forwarder.Publish only: the bus
//     has no admission hook, so a direct Bus.Publish is not held back.
//   - Duplicates beyond the dedup window (a crash longer than the window
//     before restart) are delivered twice; downstream handlers should be
//     idempotent by message_id.
//
// # Lock order
//
// Forwarder.mu, then partState.mu. breaker.mu is a leaf.
package kafka
