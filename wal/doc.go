// Package wal is onexbus's log: partitioned, append-only, on a
// store.Store.
//
// # Model
//
// Each partition has dense offsets from 0. Records are stored in chunks of
// consecutive records keyed by their first offset, as Kafka stores record
// batches: a store's cost is per key and per page, so chunks go several
// times further than a key per record. An index entry per chunk holds its
// offset span, size, smallest and largest record timestamp and a bloom
// filter of its correlation ids, for retention, time lookups and
// correlation queries without reading the chunk.
//
// Chunks fill across commits: each commit stores its records in a small
// chunk of its own, and the commit that fills the partition's trailing
// run of small chunks (the one after which a chunk like its own would no
// longer fit ChunkRecords and ChunkBytes) merges the run and its records
// into one chunk under the run's first key, in the same transaction, so a
// synchronous appender's log has full chunks and one run of small ones at
// its end, not a chunk per commit. The run's records are checked (every
// CRC) before they are copied; a chunk that fails is left alone and only
// the chunks after it merge. The memory store, which keeps values without
// copying them, keeps a chunk per commit. See extend.go (why a run rather
// than rewriting the newest chunk every commit: bbolt's leaves).
//
// # Formats
//
// A topic's storage format is chosen when it is created (TopicConfig.Format)
// and kept for its life; both sit behind the same Read, retention, time
// and admin calls.
//
//   - FormatFrames: the bus's own records (Append), one frame per record
//     with a CRC-32C, its message and correlation ids; chunks of at most
//     ChunkRecords records or ChunkBytes bytes (chunk version 3).
//   - FormatKafka: Kafka v2 record batches as a producer sent them
//     (AppendBatch), whole, back to back (chunk version 2): a chunk's bytes
//     after its version byte are a valid Fetch record set, and ReadBatches
//     returns them without decoding. The log writes only the base offset
//     and leader epoch 0, both outside the batch CRC, which every read
//     checks. A batch is never split; one larger than ChunkBytes is its own
//     chunk (the record limit does not apply). Read walks the records
//     inside batches (decompressing) for embedded readers. Kafka chunks
//     keep no correlation filter. Message-id dedup applies only to the
//     bus's own batches (AppendOwnBatch, producer id -1); Kafka producers
//     get sequence-based idempotence instead.
//
// Two formats rather than one because the bus's own publishes keep their
// speed as frames while the Kafka listener needs the producer's bytes;
// the bus chooses per topic which it writes.
//
// # The bus's batches
//
// A Bus.Publish to a FormatKafka topic (one the broker created, or one
// configured so) stores an uncompressed v2 batch per run of messages,
// built by package core with every onexbus header as a Kafka record header,
// through AppendOwnBatch: the batch's message ids are checked against the
// dedup window in the critical section that assigns its offsets, and a
// batch holding a duplicate is refused whole (the caller rebuilds it
// without). Open rebuilds those ids from the message_id headers of stored
// batches with producer id -1. Measured with core's BenchmarkFormatEndToEnd
// and bench/ (ONEXBUS_BENCH_KAFKA=1) on this 2-core machine, the memory bus
// end to end in the Kafka format runs at about 0.55 of the frames format
// (text headers of about 250 B a message to write and parse instead of
// about 10 B of record fields, and a batch header and CRC per publish), while a
// durable PublishAsync runs at about 0.9-1.0 (the fsync dominates). So
// FormatFrames stays the default for topics only the bus reads.
//
// # Damage
//
// Every chunk carries its first offset (the frames header, the first
// batch's base offset) and every read checks it against its key; index
// entries, topic configurations, start offsets, the format marker and the
// cluster id carry a CRC-32C over key and value. Chunks cover every offset
// from the stored start to the end, so a read that meets a hole reports
// it. Damage is a *CorruptError with its topic, partition, offset and the
// offset where reading can resume; nothing damaged is read as records.
// A read checks the CRC of each frame or batch it passes on, and only
// those: frames and batches before its position are passed over by their
// length, records still queued are not re-checked (Append wrote their
// frames in this process, AppendBatch checked each batch), and nothing
// read from a store.Volatile store (store/memory) is, since it never
// rested where it could be damaged; Open's checks apply to every store.
// Open rebuilds a damaged index entry or start offset from the chunks
// when they vouch for themselves (their CRCs), refuses buckets no topic
// declares, and refuses a store of another log format (format 1 wrote
// chunks without a version byte) with ErrFormatVersion naming it.
//
// # Durability
//
// One committer goroutine writes every queued record of every partition in
// one store transaction: many concurrent appenders share one fsync (group
// commit). One Append is one commit: it reads the commit generation
// before queueing and kicks the committer once, so a round that only
// carries a subscriber's cursor never runs for it.
//
// Group commit that fills (WithCommitWait, default 1 ms, see
// coalesce.go): without a wait, N synchronous appenders settle into
// commits of about N/2 (those a commit releases come back while the next
// commit, holding those that queued meanwhile, already runs). So after a
// commit that held at least 2 synchronous Appends, the committer waits,
// blocked on a channel, until every appender of the last cycle is queued
// again (those the commit held and those that queued while it ran), or
// for half the last commit's transaction time, at most the configured
// maximum. A single appender never waits. When the appenders come back
// the wait ends with the last of them; the cost is latency when one does
// not: that bound, once, after which the next waits are skipped (1, 2, 4
// ... up to 64 commits after timeouts in a row), so an open loop of
// publishers pays it on a few commits in a hundred. 16 synchronous
// publishers go from 8 to about 15 messages a commit.
//
// Under PolicySync, Append and AppendBatch answer after that
// transaction committed and readers only see committed records; under
// PolicyInterval and PolicyNone they answer once the record is queued, and
// readers see it at once. PolicyInterval commits once an interval on a
// store that fsyncs every commit (bbolt's NoSync risks the whole file on
// a power loss, see store/bolt WithNoSync). Consumer-group cursors ride
// along with the next commit unless the caller asks for a durable commit
// (CommitCursors with durable, DeleteGroup, DeleteCursor), which waits for
// the next group commit (or, under PolicyInterval, a store sync shared by
// the callers waiting). Every transaction is atomic, so recovery after a
// crash only reads: the end of each partition is the end of its last
// indexed chunk.
//
// # Atomic ops
//
// AppendAtomic stores records for several partitions (FormatFrames
// records, the bus's own FormatKafka batches, in one op) and cursor moves
// or handled marks in one store transaction: the committer takes its
// round under Log.roundMu, and the op queues under it, so a round holds
// all of an op or none of it. After a crash both are stored or neither
// is; a failed commit keeps the whole op queued for the next. Under
// PolicySync it answers after that commit; under PolicyInterval and
// PolicyNone once queued (readers see the records at once, and the next
// commit writes the whole op). See atomic.go.
//
// # Consumer groups
//
// A cursor is (group, topic, partition) -> CursorValue: the offset of the
// next record to deliver, the committer's leader epoch and metadata, and
// the commit time. Embedded groups and Kafka consumer groups share them:
// one offset space. CommitCursor only moves forward (the delivery
// engine's); CommitCursors may move backward (a Kafka seek).
//
// # Idempotent producers
//
// AppendBatch checks a batch with a producer id against that producer's
// window on the partition (its epoch and last 5 batches) under the
// partition lock, before offsets are assigned: a retry is answered with
// the original base offset and not stored; gaps and stale epochs are
// refused (ErrOutOfOrderSequence, ErrInvalidProducerEpoch). A window is
// written by the commit that stores its batches, in the same transaction,
// so after a crash stored batches and windows agree. AllocateProducerID
// reserves ids in the store before handing them out. See producer.go.
//
// # Kafka transactions
//
// A transactional batch opens its producer's transaction on the
// partition; EndTransaction writes a commit or abort control batch (one
// offset) on every partition it wrote, and on a commit its group
// offsets, in one store transaction (Log.roundMu keeps them in one
// round). A partition's last stable offset is the first offset of its
// oldest transaction that is open or whose marker is not yet durable;
// ReadBatchesIsolated and ReadCommitted stop there, and AbortedTransactions
// lists the aborted ones (producer, first offset, marker offset). The
// open transactions and the aborted index are written by the commit that
// stores the batches they describe, and Open aborts whatever a crash left
// open (bumping the registered epoch of its transactional id, see
// TxnProducer). See txn.go.
//
// EndTransaction is QueueTransactionEnd and TxnEnding.Wait: after a
// failed commit the end stays queued (the committer retries it) and Wait
// may be called again; it returns nil only once the end is durable.
//
// Memory is bounded by options, not by the ids clients use: the
// transactional-id registry holds at most WithMaxTxnIDs ids (about 140 B
// each with an 18-byte id) and forgets, in the store too, an id unused
// for WithTxnIDExpiry (Kafka's transactional.id.expiration.ms, 7 days by
// default) with no transaction open (txn_registry.go). The aborted index
// keeps at most WithAbortedIndexMemory entries in memory, all partitions
// together (about 26 B each); every entry is in the store, and a read
// whose range needs the others reads them from there (txn_index.go).
// Retention deletes the entries before a partition's start. Idempotent
// producers are forgotten per partition after WithProducerExpiry.
//
// # Dedup
//
// Append (and AppendOwnBatch, for a whole batch) drops a record whose
// message id the topic saw within the dedup window (measured on append time, after a restart too: every commit
// stores per-partition append-time marks). Memory grows with the ids
// seen: about 40 B an id the bus generated (kept in a list), 65 B once
// the topic looked ids up (kept in a map). See dedup.go.
//
// # Retention
//
// Per partition: MaxMessages is exact (the start offset moves with each
// append, inside a chunk or a batch if need be); MaxBytes and MaxAge drop
// whole chunks and never the newest. DeleteRecords moves the start like
// Kafka's. HoldRetention keeps every record a group (the Kafka forwarder)
// has not consumed, whatever the limits say. The store reuses freed pages;
// compaction is the store's (store.Compacter).
//
// # Locks
//
// A partition's combining token (partition.combining, combine.go) comes
// before partition.mu: only its holder queues Append and AppendAsyncTo
// records, its own and those of the appenders that found it held, which
// wait on their request (spinning, then parked on its channel), never on
// partition.mu, and hold no lock while they wait.
//
// Log.closeMu, then Log.roundMu, then Log.mu, then partition.mu, then
// topicLog.dedup.mu, then Log.genMu (Log.roundMu also before Log.curMu); Log.curMu, Log.holdMu, partition.floorMu, Log.durable's locks and
// Log.producers.mu are never held with another, nor is a watcher's mu
// (Watch callbacks, AppendBatch's done and a retention hold's match
// function run with no lock held). The committer and readers read queued
// chunks without the partition lock: tail bytes below a chunk's length are
// never rewritten, except each frame's CRC word, which the committer
// writes after taking the chunk and no tail reader reads (see tail).
package wal
