// Package kafka connects a core.Bus to an upstream Kafka cluster with
// franz-go: a Forwarder copies the local log to Kafka (store and forward),
// an Ingest copies Kafka topics into the local log, an Admin manages
// topics and reports lag, and Config loads the original system's KAFKA_*
// variables.
//
// # Configuration
//
// One surface: the KAFKA_* table (Settings lists it as data: name, YAML
// key, default, range, secret). A Config is an immutable, validated value
// of that table, built by Load, LoadEnv or LoadYAML and changed with With,
// which report every problem at once, each naming its variable. Each
// component is New(required, opts...): NewForwarder(bus, cfg, ...),
// NewIngest(bus, cfg, topics, ...), NewAdmin(cfg); its options cover only
// what the table does not (topic pattern, group, logger, batching) and
// every option problem is reported by New with the others, wrapping
// ErrInvalidConfig. The zero Config means the defaults.
//
// # Model
//
// The local log is the single source of truth. Publish returns when a
// message is durable locally; the Forwarder then reads each partition of
// each forwarded topic from its own position (kept in the log under a
// group name, like a consumer group's cursor) and produces to Kafka. The
// position moves only after Kafka acknowledged every record before it.
// Ingest is a Kafka consumer group whose offsets are committed only after
// the records are in the local store: PublishBatch returned and, for the
// DurabilityInterval and DurabilityNone policies, under which PublishBatch
// returns with the records still in memory, Bus.Sync returned too.
//
// A forwarded record carries the message's ONEX headers as Kafka record
// headers, UTF-8 text under their wire names, byte for byte
// core.Headers.AppendRecordHeaders (fields left zero are left out; a
// message with the bus's defaults has nine). WithHeaderEncoding
// (HeadersCompact) leaves out, on request, the headers whose values the
// reader's defaults restore; an onexbus Ingest reads the same headers
// either way.
//
// # Guarantees
//
//   - Forwarding is at least once to Kafka and in order per partition. A
//     forwarded position moves only after Kafka acknowledged every record
//     before it, and it is written with the bus's next group commit (the
//     forwarder makes one every second while positions move, and one in
//     Close). A crash, or a produce whose ack was lost, forwards again what
//     was acknowledged but not yet committed locally: up to about a second
//     of forwarding. The idempotent producer (the default) drops the
//     retries within one producer session, not across a restart. A
//     message forwarded twice carries the same message_id header both
//     times: an onexbus Ingest at the other end stores it once (the bus's
//     dedup window), and other consumers should dedup by message_id.
//     Messages with the same key keep their order in Kafka.
//   - Retention never deletes a record of a forwarded topic before Kafka
//     acknowledged it: from Start to Close the forwarder holds the
//     retention of its topics (Bus.HoldRetention with its pattern), so a
//     partition's start never passes the forwarded position. While Kafka
//     is away the partitions grow past their limits; pair the forwarder
//     with KAFKA_BACKLOG_BUDGET_BYTES to bound that. Topics outside the
//     pattern and refused topics are not held; neither is an operator's
//     DeleteRecords, nor retention while no forwarder runs.
//   - While Kafka is unreachable the forwarder backs off exponentially
//     and, after KAFKA_CIRCUIT_BREAKER_THRESHOLD consecutive failures,
//     opens its breaker: one probe per reset timeout, no hammering. Local
//     publishes keep succeeding; the backlog drains in order on return.
//   - With KAFKA_BACKLOG_BUDGET_BYTES, a running forwarder holds every
//     publisher of a forwarded topic (Publish, PublishBatch, PublishAsync
//     of the bus, and an Ingest into it) to that many bytes not yet
//     acknowledged by Kafka, through a publish gate installed in Start and
//     removed in Close: KAFKA_BACKLOG_POLICY=block waits for the acks that
//     bring the backlog under the budget (or the publisher's context),
//     reject fails with ErrBacklogFull. Dead letters (the bus's
//     dead-letter topics and KAFKA_DEAD_LETTER_TOPIC) always pass, and
//     count: holding them would hold the group being moved past a failed
//     message.
//   - A record Kafka refuses for what it is (MESSAGE_TOO_LARGE,
//     RECORD_LIST_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP) does not
//     stop its partition: it is retried on its own
//     KAFKA_MAX_RETRY_ATTEMPTS times, then stored in the bus's dead-letter
//     queue (bus.DeadLetters()) under the forwarder's group
//     (DefaultForwarderGroup) with its topic, partition, offset, headers
//     and the error, and only once that letter is durable does the
//     position move past it. Other errors are retried until Kafka takes
//     the record: the forwarder never drops a message.
//   - A topic Kafka refuses as a whole (a name it does not allow, such as
//     one longer than 249 characters or one colliding with another in
//     '.' versus '_'; a creation policy; no authorization to write it) is
//     a permanent error of that topic: logged once at error level, listed
//     by RefusedTopics (wrapping ErrTopicRefused and Kafka's error), not
//     asked for again, not counted in the backlog or the budget. Its
//     messages stay in the local log; every other topic keeps flowing.
//     Not being allowed to create a topic is no refusal: the topic may
//     exist, and produce decides.
//   - Ingest commits a batch's Kafka offsets only once the batch is in the
//     local store: under DurabilitySync and DurabilityInterval fsync'd
//     (Bus.Sync syncs the store under the interval policy), under
//     DurabilityNone written to the file without an fsync, which survives
//     a crash of the process but not a power loss. A local append that
//     fails (a full disk, a budget that refuses) is retried with capped,
//     jittered backoff for as long as the ingest runs, holding the
//     partitions and committing nothing; once the bus is closed the member
//     stops (Err wraps core.ErrClosed) and leaves the group.
//   - Ingest is at least once: a crash between the local append and the
//     Kafka commit re-ingests those records, and the bus's message_id
//     dedup window stores them once. Records without a message_id get one
//     derived from (topic, partition, offset), so they dedup too.
//     Rebalances wait until the batch in hand is appended and committed
//     (kgo.BlockRebalanceOnPoll), so a member gives partitions up with
//     nothing in flight; a static member (WithInstanceID) keeps its
//     partitions across a restart within the session timeout.
//
// # Caveats
//
//   - Under DurabilityInterval (bbolt without an fsync per commit) a crash
//     loses the last interval's publishes, and those may already be in
//     Kafka. The forwarded position is committed in the same store
//     transaction as the records it covers, so after a restart it never
//     points past the local end and nothing published later is skipped
//     (a position found past the end, which only a damaged store could
//     give, is moved back to the end, with a warning).
//   - The budget is counted in whole stored chunks, so the backlog may
//     pass it by up to a chunk per partition (and by the publishes racing
//     one measurement). A blocked publisher wakes on the forwarder's acks;
//     a backlog shrunk by retention alone does not wake it.
//   - Duplicates beyond the dedup window (a crash longer than the window
//     before restart) are delivered twice; downstream handlers should be
//     idempotent by message_id.
//
// # Lock order
//
// Forwarder.mu, then partState.mu; Forwarder.mu, then the bus's gate
// lock (Close removes the gate under Forwarder.mu; the gate itself runs
// without the bus's lock); Forwarder.mu, then the log's hold lock (Close
// releases the retention hold under it). The log's committer calls the
// hold's match (forwards, which takes Forwarder.mu) with none of its own
// locks held, so Forwarder.mu is never held while waiting for the bus.
// The breaker (internal/breaker) takes no lock of ours; its change
// callback only logs.
package kafka
