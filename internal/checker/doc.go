// Package checker records a history of a queue workload and checks it,
// in the style of Jepsen's queue workload: producers publish unique
// values under keys, consumers in groups receive them, and the history of
// every invocation, acknowledgement, failure, delivery and cursor commit
// (plus a final read of the log) is checked for:
//
//   - lost writes: an acknowledged value missing from the final read, or
//     never delivered to a group that drained the log;
//   - acknowledgements the log contradicts: a value acknowledged at an
//     offset that holds something else, or two values acknowledged at one
//     offset;
//   - values nobody published (in the log or delivered);
//   - duplicates: a value stored at two offsets (beyond at-least-once for
//     idempotent producers), or delivered again to a group at an offset
//     the group had already committed past (at-least-once allows a
//     redelivery only of what was not committed);
//   - per-key order: a key's values stored out of the order its producer
//     published them, or delivered out of offset order within one consumer
//     session;
//   - offsets that go backwards or repeat within one consumer session, and
//     holes in the final read (offsets must be dense);
//   - cursors ahead of data: a committed cursor past the partition's end
//     in the final read.
//
// # Model
//
// A key belongs to one producer, which publishes its values in order (it
// may pipeline them: invocation order is the order the log must keep). A
// consumer session is one consumer's life between a start and a crash or
// stop; offsets delivered within a session move forward per partition. A
// restart is a new session: it resumes at the committed cursor, so values
// after it may be delivered again. The history is safe for concurrent use
// by many producers and consumers.
package checker
