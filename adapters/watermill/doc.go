// Package watermill exposes an onexbus bus as Watermill's
// message.Publisher and message.Subscriber, so that code written for
// Watermill (its Router, middlewares, CQRS component) runs on onexbus. It
// is its own Go module so that Watermill stays out of the library's
// go.mod.
//
// # Model
//
// A Publisher appends each Watermill message to the bus's log; a
// Subscriber is a set of consumer-group members, one per Subscribe call,
// each feeding a channel. A message handed to the channel holds its
// partition until it is acknowledged: Ack commits the group's cursor past
// it, Nack makes the bus redeliver it after the subscription's retry
// delay (see core.RetryPolicy).
//
// Messages map as follows:
//
//   - Payload is the bus message's Value.
//   - UUID is the message_id header when it is a UUID in canonical form
//     (what watermill.NewUUID makes); any other UUID travels in the free
//     header watermill_uuid and message_id gets a fresh UUID.
//   - Metadata goes through core.HeadersFromRecord: names of structured
//     headers (correlation_id, trace_id, partition_key, ...) fill those
//     fields, the rest become free headers. A received message's metadata
//     is core.Headers.AppendRecordHeaders of the stored headers: what was
//     sent, plus the defaults the bus filled in (source, event_type,
//     content_type, correlation_id, ...). A value that did not parse
//     (a correlation_id that is not a UUID) comes back as sent.
//   - The partition_key metadata picks the partition (Kafka's murmur2), so
//     messages that share it keep their order on a topic with several
//     partitions.
//
// # Guarantees
//
// Delivery is at least once and, within a partition, in order: a
// partition is delivered to one member of a group at a time and the next
// message waits for the Ack of the one before it. Every consumer group
// gets every message. Subscribe with SubscriberConfig.ConsumerGroup set
// joins that group, whose members share the partitions; with it empty,
// each Subscribe call is a group of its own under a fresh name.
//
// Publish returns once the bus holds the messages durably by its policy
// (fsync'd by default on a bbolt bus). A message_id published again within
// the bus's dedup window is stored once, so publishing the same Watermill
// message twice delivers it once.
//
// # Caveats
//
//   - Watermill's Publish takes no context: each message's Context bounds
//     its publish, and a batch stops when any of its messages' contexts
//     ends.
//   - Message contexts are not carried through the log: a received
//     message's Context derives from the Subscribe context and is
//     cancelled once the message is acknowledged or the subscription ends.
//   - A Nack is a handler failure to the bus: it counts as an attempt of
//     the retry policy and waits the policy's backoff. The bus default
//     (3 attempts, 1 s base, then the dead-letter queue; the breaker opens
//     for 30 s after 5 failures in a row) suits production; Nack-heavy
//     code wants a smaller base (core.SubscribeRetry in
//     SubscriberConfig.Options) and maybe core.WithBreaker on the bus.
//   - A subscription that ends with a message in hand (Close, or its
//     Subscribe context ended) gives the message back (ErrUnacked, which
//     wraps core.ErrReleased): the next member gets it, and no attempt is
//     spent nor failure counted.
//   - A group made for an empty ConsumerGroup keeps its cursor in the
//     store after Close, as any group does.
//   - Closing the Publisher or Subscriber does not close the bus: whoever
//     built the bus closes it.
package watermill
