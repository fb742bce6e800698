// Package core is the onexbus engine and its public API: the Bus, messages
// and their headers, topics and patterns, consumer groups and delivery.
//
// The message model (Message, Headers, Category, topics, patterns, the
// partitioner, the Kafka header mapping and the stored encoding) lives in
// package message, which does not import the engine; core re-exports each
// of its names as an alias, so core.Message is message.Message.
//
// # Model
//
// A topic has partitions (1 by default); each partition is a log whose
// offsets are dense from 0. Publish picks the partition from the message
// key (or the partition_key header) with Kafka's murmur2 partitioner, so a
// key lands on the same partition number here and in Kafka; messages
// without a key are spread round-robin. Every consumer group gets every
// message of the topics it subscribes to; inside a group, each partition
// is delivered to one member at a time.
//
// # Guarantees
//
// Publish returns after the message is durable by the bus's policy: by
// default after the group commit holding it is fsync'd (bbolt store).
// Delivery is in order per partition and at least once: a group's cursor
// moves past a message only after its handler returned nil or the message
// was confirmed written to the dead-letter queue. A failing handler is
// retried with exponential backoff and jitter (RetryPolicy); attempts are
// stored, so a restart neither resets them nor lets a message that kills
// the process loop forever. After the last attempt, or at once for an
// error wrapped with Permanent, the message goes to the dead-letter queue
// (package dlq, DeadLetters, ReplayDeadLetters) and to its DLQ topic. A
// circuit breaker per (topic, group) subscriber pauses delivery after
// consecutive failures without spending attempts. Ordering is per
// partition by default; OrderKey lets different keys run in parallel and
// holds back only the failing key; OrderNone runs unordered up to a
// concurrency limit. A message_id published twice within the dedup window
// is stored once. PublishBatch is all or nothing, and a transactional
// handler's outputs are stored with its group's move (Transactions).
// Each delivered Message, Key and Value included, is the handler's own
// copy, which it may change and keep; a group that declares read-only
// handlers (SubscribeReadOnly) may instead get Key and Value aliasing the
// log's bytes, on the memory store, and must not write to them.
//
// # Transactions
//
// A handler subscribed with SubscribeTransactional publishes through the
// Txn of its call (TxnFrom(ctx).Publish). When it returns nil, its
// messages, to any topics and partitions in either storage format, are
// stored in the same store transaction (wal.AppendAtomic) that moves its
// group past the input, so a crash keeps both or neither: an input is
// never lost (the group moves only with the outputs) and its outputs are
// never stored twice (a retried or redelivered input's earlier outputs
// were stored with the move, or not at all). PublishCommit does the same
// for a consumer that reads with Fetch under a group name, and
// PublishBatch stores a batch whole by one store transaction, whatever
// its partitions.
//
//   - Retries: each call has its own Txn. A call that returns an error,
//     panics, runs past its timeout or calls runtime.Goexit stores none of
//     what it published; the retry publishes afresh. Attempts count as
//     for any handler.
//   - Dead letters: an input that runs out of attempts (or fails with
//     Permanent) goes to the DLQ as usual and publishes none of its
//     outputs.
//   - Ordering: with OrderPartition the transaction moves the cursor past
//     the input. With OrderKey and OrderNone the cursor moves only over a
//     contiguous prefix of finished inputs, so the transaction instead
//     marks the input handled in the same store transaction (bounded by
//     the loop's window, 4096 a partition); the cursor moves with the
//     loop's usual commits and drops the marks it passes. After a crash a
//     marked input is acknowledged without calling the handler.
//   - Outputs on several partitions keep their Publish order in each
//     partition; readers see all of a transaction's outputs at once.
//     Under DurabilitySync the call's transaction is fsync'd before the
//     group moves on, and readers (CommittedOffset too) see outputs and
//     move once stored; under DurabilityInterval and DurabilityNone both
//     are visible at once and the next commit writes them together (a
//     crash may lose both, never one).
//   - A store commit that fails keeps the whole transaction queued: the
//     delivery waits for the store (Sync, with backoff) instead of running
//     the handler again, which would publish a second copy.
//   - Dedup: outputs go through message_id dedup as Publish does; an
//     output whose id the topic holds within the window is not stored
//     again.
//
// Limits: the guarantee covers what is stored through the Txn and the
// group's position, nothing else. A handler runs at least once: effects
// outside the bus (an HTTP call, a database write, a Bus.Publish called
// directly) happen again on a retry or after a crash, so they must be
// idempotent on their own (a deterministic message_id makes a direct
// Publish so, within the dedup window). Each transactional call costs one
// store transaction of its own (under DurabilitySync an fsync, shared by
// the group commit with the other partitions' loops). These are not Kafka
// transactions: outputs in FormatKafka topics are plain batches (producer
// id -1), visible to read_committed and read_uncommitted consumers alike
// once stored. A group moved by transactions should have no other
// committer of its positions (a Kafka-protocol commit racing a
// transaction could store an older position, redelivering).
//
// # Topics
//
// Names follow Kafka's rules (1-255 of [a-zA-Z0-9._-], not "." or "..").
// The ONEX grammar onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N> (and two
// older forms) gives a topic its Category; Enforcement decides what
// happens to names outside it. In subscriptions, `*` matches one segment
// and `**` any number of segments, here and everywhere else.
//
// # Caveats
//
// Handlers run on the delivery goroutine of their partition: a slow
// handler slows its partition, not others. A handler must honour its
// context: Close waits for handlers, and cancels their contexts when its
// own context ends. A handler that kills the process is recognised from
// its second crash on (the first cannot be told apart from a crash
// elsewhere in the batch), so it runs at most MaxAttempts+1 times.
//
// Group settings (retry policy, ordering) belong to the group: a member
// asking for others is refused. A handler that calls runtime.Goexit (as
// t.Fatal does) counts as a failed attempt and its partition carries on;
// Close and Unsubscribe called from inside a handler do not wait for it.
// After a crash, records that were in flight are delivered with their
// attempt stored first, so a record that kills the process is
// dead-lettered at the limit; a success forgets the record's attempts,
// and a clean Close leaves no record in flight. A damaged stretch of the
// log is dead-lettered with its location and counted in Health.
//
// Retention (TopicConfig.Retention) drops a partition's oldest messages
// whoever has read them, unless a group holds it: HoldRetention for any
// consumer, or every Subscription of a bus built with
// WithSubscribersHoldRetention(true) (the memory bus's default, which is
// how transport/memory bounds its memory without losing what a subscriber
// has not handled).
//
// # Storage
//
// Without WithStore, New opens a bbolt file in the data directory
// (package store/bolt), so core links bbolt. That is deliberate: the
// configuration-free bus must be durable, and core.New(core.WithDataDir(dir))
// must work without the caller importing a store. A default installed by
// a blank import (as database/sql drivers are) would turn a forgotten
// import into a bus that fails at run time. A program that passes
// WithStore (transport/memory does) still links bbolt, which costs binary
// size and nothing at run time.
//
// # Storage formats
//
// Each topic is stored in one of two formats, chosen at creation
// (TopicConfig.Format, WithDefaultTopicConfig) and kept for its life;
// Publish, PublishAsync, Subscribe, History and Fetch work the same on
// both.
//
//   - FormatFrames (the default): a wal frame per message holding its
//     timestamp and ids and the message's record body (package message,
//     version 2: only fields that differ from their defaults; version 1
//     msgpack bodies still read), the fastest form for a bus whose topics
//     only it reads.
//   - FormatKafka: Kafka v2 record batches, what onexbusd's Kafka listener
//     stores and serves byte for byte (the broker creates its topics so).
//     A Publish writes one uncompressed batch per run of messages to a
//     partition (producer id -1), each message a record whose headers are
//     every Headers field under its wire name, exactly as
//     Headers.AppendRecordHeaders writes them, encoded once; timestamps are
//     Kafka's milliseconds, so Publish truncates Message.Timestamp to the
//     millisecond (the header timestamp keeps its nanoseconds). message_id
//     dedup still applies to the bus's publishes, before the batch is
//     stored. Readers decode records as HeadersFromRecord does (bad values
//     fall back with a warning, raw values in Unparsed), skip control
//     batches, and give a record without a message_id a UUIDv8 derived
//     from (topic id, partition, offset), so redelivery, the DLQ and replay
//     all see one id. Records of Kafka producers are deduplicated by their
//     producer sequences, not by message_id.
//
// Why two: on this project's 2-core machine, under the same load, the
// memory bus end to end in FormatKafka ran at about 0.55 of FormatFrames
// (BenchmarkFormatEndToEnd, and bench/ with ONEXBUS_BENCH_KAFKA=1), below
// the bar the embedded bus must hold against Watermill's GoChannel; the
// durable PublishAsync ran at about 0.9-1.0, bound by the fsync.
//
// # Locks
//
// Bus.mu, then Subscription.mu; the log's locks after both. loop.exitMu,
// the breakers' locks and the handler-goroutine registry (a sync.Map) are
// leaves: nothing is locked while they are held.
//
// # Durability
//
// Publish returns after the fsync under DurabilitySync; PublishAsync
// returns at once and calls back after it, so a few publishers with many
// messages in flight share each group commit.
package core
