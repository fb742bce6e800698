// Package dlq is onexbus's dead-letter queue: the messages a consumer
// group gave up on, kept with their provenance so an operator can list,
// filter, inspect, replay and purge them.
//
// # Model
//
// A Letter is the original message (topic, partition, offset, key, value,
// headers) plus why and when it failed (group, attempts, error, first and
// last failure, when it was dead-lettered, and the DLQ topic it was also
// published to). Add gives each letter an id: 1, 2, 3... per store,
// increasing and never reused, so ids order letters oldest first.
//
// The queue lives on a store.Store, usually the bus's own, in three
// buckets: "dlq.letters" (big-endian id to the encoded letter), "dlq.meta"
// (the format version, the next id and the count) and "dlq.origins" (the
// id of the queued letter of each group, topic, partition and offset). A
// letter is stored as a version byte, a CRC-32C and a msgpack body; see
// codec.go.
//
// A message is queued at most once per consumer group: adding it again
// replaces its letter (see Queue.Add).
//
// The bus dead-letters a message with Add and commits the group's cursor
// past it only once Add returned nil. Replay hands letters back to the
// bus through a Republisher, which the bus implements.
//
// # Guarantees
//
// Durability: Add is one store Update; when it returns nil the letter is
// as durable as the store makes a commit (fsync'd on bbolt unless opened
// without sync). Remove is one Update; Purge and Replay delete in many
// short Updates.
//
// No secret at rest in the error text: Add redacts secrets from Error
// (Redact) and then caps it (CapError) before it is written. Key, Value
// and Headers are stored as given, since Replay must re-publish them.
//
// Replay is at-least-once: a letter is removed only after Republish
// returned nil, so a crash between the two re-publishes it again rather
// than losing it. Letters go oldest first, one at a time, at most
// ReplayOptions.Rate per second.
//
// Damage is reported, never panicked on: a letter that fails its checksum
// or does not decode gives a *CorruptError with its id (wrapping
// ErrCorrupt and store.ErrCorrupt), and Remove deletes it without
// decoding.
//
// Limits are explicit: Filter.Limit 0 selects nothing, All everything.
//
// # Caveats
//
// List, Purge and Replay walk the letters in pages (one short View or
// Update per 1,024 letters) so that they never hold the store's writer, or
// the memory store's lock, for long: they are not one snapshot. Every
// filter but IDs scans the letters in id order, decoding each; the queue
// is meant to stay small (letters are for operators to deal with), not to
// be queried like a database.
//
// Redaction is pattern-based and errs towards hiding: it hides values of
// keys that look secret ("invalid token: expired" loses "expired"), and it
// cannot recognise a secret that carries no key, scheme or URL around it.
//
// Times are stored as Unix nanoseconds in UTC: they come back in UTC,
// without monotonic readings, and only for the years 1678 to 2262.
//
// Concurrency: every method is safe for concurrent use, and one Replay
// runs at a time per Queue. The only lock of a Queue is that replay
// semaphore: Replay takes it before any store transaction and never
// inside one. Do not replay from two Queues on one store at once: each
// would re-publish the same letters.
package dlq
