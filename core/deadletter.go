package core

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/wal"
)

// Headers that dead letters and their replays carry, as Extra headers.
const (
	// HeaderDLQOriginalTopic and the next three name where a dead letter
	// (or a replayed one) came from.
	HeaderDLQOriginalTopic     = "dlq_original_topic"
	HeaderDLQOriginalPartition = "dlq_original_partition"
	HeaderDLQOriginalOffset    = "dlq_original_offset"
	HeaderDLQGroup             = "dlq_group"
	// HeaderDLQAttempts is how many deliveries were tried.
	HeaderDLQAttempts = "dlq_attempts"
	// HeaderDLQError is the last error, redacted and capped.
	HeaderDLQError = "dlq_error"
	// HeaderDLQID is the dead letter's id in the queue.
	HeaderDLQID = "dlq_id"
	// HeaderReplayGroup, on a replayed message, names the only consumer
	// group that receives it; the others acknowledge it unseen.
	HeaderReplayGroup = "dlq_replay_group"
	// HeaderReplayCount, on a replayed message, counts how many times it
	// was replayed from the dead-letter queue: a guard against a message
	// that fails, is replayed and fails again forever.
	HeaderReplayCount = "dlq_replay_count"
)

// DefaultDeadLetterTopic receives the dead letters of topics outside the
// ONEX grammars; ONEX topics (the legacy forms too) use
// onex.dlq.<domain>.<evt|cmd|intent>.v1.
const DefaultDeadLetterTopic = "onexbus.dlq"

// DefaultRejectDeadLetterTopic replaces DefaultDeadLetterTopic under
// EnforceReject, which refuses names outside the ONEX grammar: it follows
// the grammar, so dead letters of topics without a domain still have a
// topic the mode accepts.
const DefaultRejectDeadLetterTopic = "onex.dlq.onexbus.undeliverable.v1"

// DeadLetters returns the dead-letter queue: list, inspect and purge
// letters there; replay them with ReplayDeadLetters.
func (b *Bus) DeadLetters() *dlq.Queue { return b.dlq }

// ReplayDeadLetters re-publishes the dead letters that match f, oldest
// first, at most opts.Rate a second: to their original topic, or with
// opts.ToGroup to that consumer group only. Each carries its provenance in
// headers and leaves the queue only once re-published. It returns how many
// were replayed.
func (b *Bus) ReplayDeadLetters(ctx context.Context, f dlq.Filter, opts dlq.ReplayOptions) (int, error) {
	if b.closed.Load() {
		return 0, ErrClosed
	}
	n, err := b.dlq.Replay(ctx, f, republisher{b}, opts)
	if err != nil {
		return n, fmt.Errorf("onexbus: replay dead letters: %w", err)
	}
	return n, nil
}

// republisher publishes replayed letters back to their topic.
type republisher struct{ b *Bus }

// Republish implements dlq.Republisher.
func (r republisher) Republish(ctx context.Context, l *dlq.Letter, toGroup string) error {
	m := &Message{Topic: l.Topic, Key: l.Key, Value: l.Value, Partition: l.Partition, ExplicitPartition: true}
	m.Headers = HeadersFromRecord(toRecordHeaders(l.Headers), r.b.cfg.logger)
	// A letter that was replayed before carries that replay's provenance
	// and target group: drop them, this replay says its own.
	m.Headers.Extra = slices.DeleteFunc(m.Headers.Extra, func(h Header) bool { return isDLQHeader(h.Key) })
	// A replay is a new message of the same flow: same correlation id, a
	// message id derived from the letter so a retried replay is deduped.
	m.Headers.MessageID = derivedID("replay", strconv.FormatUint(l.ID, 10), l.Topic)
	m.Headers.Extra = append(m.Headers.Extra, provenance(l)...)
	m.Headers.Extra = append(m.Headers.Extra, Header{Key: HeaderReplayCount, Value: strconv.Itoa(ReplayCount(l) + 1)})
	if toGroup != "" {
		if !r.b.groupKnows(toGroup, l.Topic) {
			return fmt.Errorf("%w: group %s has no member on %s and no committed offset there; the letter stays queued", ErrUnknownGroup, toGroup, l.Topic)
		}
		m.Headers.Extra = append(m.Headers.Extra, Header{Key: HeaderReplayGroup, Value: toGroup})
	}
	if tc, ok := r.b.log.Topic(l.Topic); !ok || l.Partition >= tc.Partitions {
		m.ExplicitPartition = false
	}
	_, err := r.b.Publish(ctx, m)
	return err
}

// ReplayCount is how many times the message of letter l was replayed
// before it was dead-lettered again: its HeaderReplayCount header, 0 when
// it has none.
func ReplayCount(l *dlq.Letter) int {
	n := 0
	for _, h := range l.Headers {
		if h.Key == HeaderReplayCount {
			if v, err := strconv.Atoi(h.Value); err == nil && v > n {
				n = v
			}
		}
	}
	return n
}

// isDLQHeader reports whether k is one of the headers a dead letter or a
// replay adds.
func isDLQHeader(k string) bool {
	switch k {
	case HeaderDLQOriginalTopic, HeaderDLQOriginalPartition, HeaderDLQOriginalOffset, HeaderDLQGroup,
		HeaderDLQAttempts, HeaderDLQError, HeaderDLQID, HeaderReplayGroup:
		return true
	}
	return false
}

// groupKnows reports whether group has a live member whose pattern
// matches topic or a committed offset on topic: a replay to it reaches
// someone.
func (b *Bus) groupKnows(group, topic string) bool {
	b.mu.Lock()
	if g := b.groups[group]; g != nil {
		for _, m := range g.members {
			if m.pattern.Match(topic) {
				b.mu.Unlock()
				return true
			}
		}
	}
	b.mu.Unlock()
	return slices.Contains(b.log.Groups(topic), group)
}

func toRecordHeaders(hs []dlq.Header) []RecordHeader {
	out := make([]RecordHeader, 0, len(hs))
	for _, h := range hs {
		out = append(out, RecordHeader{Key: h.Key, Value: []byte(h.Value)})
	}
	return out
}

func provenance(l *dlq.Letter) []Header {
	return []Header{
		{Key: HeaderDLQOriginalTopic, Value: l.Topic},
		{Key: HeaderDLQOriginalPartition, Value: strconv.Itoa(int(l.Partition))},
		{Key: HeaderDLQOriginalOffset, Value: strconv.FormatInt(l.Offset, 10)},
		{Key: HeaderDLQGroup, Value: l.Group},
		{Key: HeaderDLQAttempts, Value: strconv.Itoa(l.Attempts)},
		{Key: HeaderDLQError, Value: l.Error},
		{Key: HeaderDLQID, Value: strconv.FormatUint(l.ID, 10)},
	}
}

// derivedID is a UUID fixed by its parts, so that a retried publish of the
// same dead letter or replay is deduplicated.
func derivedID(parts ...string) uuid.UUID {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var id uuid.UUID
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x80 // version 8: custom
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

// deadLetterTopic is where the dead letters of topic are published.
func (b *Bus) deadLetterTopic(topic string) string {
	t, err := ParseTopic(topic)
	if err == nil && t.Conforms() && t.Domain != "" && t.Category != CategoryDeadLetter {
		kind := map[Category]string{CategoryEvent: "evt", CategoryCommand: "cmd", CategoryIntent: "intent"}[t.Category]
		if kind != "" {
			return "onex.dlq." + t.Domain + "." + kind + ".v1"
		}
	}
	return b.cfg.deadLetterTopic
}

// IsDeadLetterTopic reports whether topic receives the bus's dead letters:
// the WithDeadLetterTopic topic or any topic of the ONEX dlq category. A
// publish gate uses it to let dead letters through: holding them would
// hold the group whose message is being dead-lettered.
func (b *Bus) IsDeadLetterTopic(topic string) bool { return b.isDeadLetterTopic(topic) }

// isDeadLetterTopic reports whether topic receives dead letters; failures
// there are queued but not published again, so they cannot loop.
func (b *Bus) isDeadLetterTopic(topic string) bool {
	if topic == b.cfg.deadLetterTopic {
		return true
	}
	t, err := ParseTopic(topic)
	return err == nil && t.Category == CategoryDeadLetter
}

// deadLetterState is the progress of one message into the dead-letter
// queue, kept across retries so no step is done twice.
type deadLetterState struct {
	id uint64 // set once the queue holds the letter
}

// deadLetter stores m in the dead-letter queue with its provenance, then
// publishes it to the dead-letter topic; nil only once both are durable.
func (b *Bus) deadLetter(ctx context.Context, st *deadLetterState, m *Message, group string, a wal.Attempt, cause error) error {
	letter := &dlq.Letter{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Group: group, Attempts: a.Count,
		Error: cause.Error(), FirstFailure: a.First, LastFailure: a.Last,
	}
	for _, h := range m.Headers.AppendRecordHeaders(nil) {
		letter.Headers = append(letter.Headers, dlq.Header{Key: h.Key, Value: string(h.Value)})
	}
	toTopic := !b.isDeadLetterTopic(m.Topic)
	if toTopic {
		letter.DLQTopic = b.deadLetterTopic(m.Topic)
	}
	if st.id == 0 {
		id, err := b.dlq.Add(ctx, letter)
		if err != nil {
			return fmt.Errorf("onexbus: dead-letter %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		st.id = id
	}
	if !toTopic {
		return nil
	}
	stored, err := b.dlq.Get(ctx, st.id)
	if err != nil {
		return fmt.Errorf("onexbus: dead-letter %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	out := &Message{Topic: letter.DLQTopic, Key: m.Key, Value: m.Value, Headers: m.Headers}
	out.Headers.MessageID = derivedID("dlq", group, m.Topic, strconv.Itoa(int(m.Partition)), strconv.FormatInt(m.Offset, 10))
	out.Headers.EventType = ""
	out.Headers.Extra = append(append([]Header(nil), m.Headers.Extra...), provenance(&stored)...)
	if _, err := b.Publish(ctx, out); err != nil {
		return fmt.Errorf("onexbus: publish dead letter %d to %s: %w", st.id, letter.DLQTopic, err)
	}
	return nil
}

// replayedElsewhere reports whether m is a replay meant for another group.
func replayedElsewhere(m *Message, group string) bool {
	for _, h := range m.Headers.Extra {
		if h.Key == HeaderReplayGroup {
			return h.Value != group
		}
	}
	return false
}
