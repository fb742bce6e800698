package core

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// Format is a topic's storage format; see wal.Format and the package doc
// (Storage formats).
type Format = wal.Format

// Storage formats, set per topic in TopicConfig.Format.
const (
	// FormatFrames stores onexbus's frames (message.AppendRecord
	// bodies): the embedded bus's fastest form, and the default.
	FormatFrames = wal.FormatFrames
	// FormatKafka stores Kafka v2 record batches: what the broker and
	// every Kafka client read byte for byte. A Bus.Publish to such a topic
	// writes one batch per run of messages with every header as a Kafka
	// record header.
	FormatKafka = wal.FormatKafka
)

// newTopicState is the lock-free view of a topic Publish and the readers use.
func newTopicState(log *wal.Log, name string, tc TopicConfig) *topicState {
	t := &topicState{name: name, partitions: tc.Partitions, format: tc.Format}
	t.id, _ = log.TopicID(name)
	return t
}

// topicFormat returns the storage format of a known topic (FormatFrames
// for one the bus has not seen).
func (b *Bus) topicFormat(name string) Format {
	if v, ok := b.topics.Load(name); ok {
		return v.(*topicState).format
	}
	if tc, ok := b.log.Topic(name); ok {
		return tc.Format
	}
	return FormatFrames
}

// topicID returns the log's id of a topic, the seed of derived message ids.
func (b *Bus) topicID(name string) [16]byte {
	if v, ok := b.topics.Load(name); ok {
		return v.(*topicState).id
	}
	id, _ := b.log.TopicID(name)
	return id
}

// decodeEntry decodes a record read from the log into a fresh message: a
// frame of a FormatFrames topic, or a Kafka record. It returns nil
// and no error for a record that is not a message (a Kafka control
// batch's), which readers skip.
func (b *Bus) decodeEntry(topic string, part int32, e *wal.Entry) (*Message, error) {
	m := new(Message)
	ok, err := b.decodeEntryInto(topic, part, e, m, nil)
	if !ok || err != nil {
		return nil, err
	}
	return m, nil
}

// decodeEntryInto is decodeEntry into m, which the caller allocated (the
// delivery loop allocates it with its item): false, nil for a Kafka
// control record. The Key and Value of a frame are cut from room when
// they fit (message.DecodeRecordIn); a Kafka record's are allocated.
func (b *Bus) decodeEntryInto(topic string, part int32, e *wal.Entry, m *Message, room []byte) (bool, error) {
	if !e.Kafka {
		// The log checked the frame's CRC, which covers these bytes, or
		// had no need to (a queued frame, a memory store). The frame
		// holds the timestamp and ids the body leaves out.
		env := message.Envelope{Topic: topic, Timestamp: e.Timestamp, MessageID: e.MessageID, CorrelationID: e.CorrelationID}
		if err := message.DecodeRecordIn(e.Payload, env, b.cfg.source, m, room); err != nil {
			return false, fmt.Errorf("%s/%d at offset %d: %w", topic, part, e.Offset, err)
		}
		m.Topic, m.Partition, m.Offset = topic, part, e.Offset
		return true, nil
	}
	if e.Batch.Control() || e.Aborted {
		return false, nil // a marker, or a record of an aborted transaction
	}
	var rec kbatch.Record
	if _, err := kbatch.ReadRecordRaw(e.Payload, &rec); err != nil {
		return false, kafkaRecordError(topic, part, e.Offset, err)
	}
	decodeKafkaRecord(topic, b.topicID(topic), part, e.Offset, &e.Batch, &rec, m, b.cfg.logger, false)
	return true, nil
}

// The Kafka record form of a message (FormatKafka topics): key and value
// as they are, the record timestamp in Unix ms from Message.Timestamp, and
// the headers exactly as Headers.AppendRecordHeaders names, orders and
// spells them, written straight into the batch builder once per publish.
// A Kafka consumer therefore sees every header a Bus.Publish set.

// appendKafkaRecord adds m to b as one record.
func appendKafkaRecord(b *kbatch.Builder, m *Message) {
	b.StartRecord(m.Timestamp.UnixMilli(), m.Key, m.Value)
	writeKafkaHeaders(b, &m.Headers)
}

// writeKafkaHeaders writes h's record headers into the open record of b
// and closes nothing: the caller ends the record. Same names, order and
// text forms as Headers.AppendRecordHeaders (kafkarecord_test.go checks
// the two agree).
func writeKafkaHeaders(b *kbatch.Builder, h *Headers) {
	var scratch [64]byte
	if h.CorrelationID != uuid.Nil {
		b.HeaderValue(HeaderCorrelationID, appendUUIDText(scratch[:0], h.CorrelationID))
	}
	if h.MessageID != uuid.Nil {
		b.HeaderValue(HeaderMessageID, appendUUIDText(scratch[:0], h.MessageID))
	}
	if !h.Timestamp.IsZero() {
		b.HeaderValue(HeaderTimestamp, appendRFC3339NanoUTC(scratch[:0], h.Timestamp))
	}
	text := func(name, v string) {
		if v != "" {
			b.HeaderString(name, v)
		}
	}
	num := func(name string, v int) {
		if v != 0 {
			b.HeaderValue(name, strconv.AppendInt(scratch[:0], int64(v), 10))
		}
	}
	text(HeaderSource, h.Source)
	text(HeaderEventType, h.EventType)
	text(HeaderContentType, h.ContentType)
	text(HeaderSchemaVersion, h.SchemaVersion)
	text(HeaderDestination, h.Destination)
	text(HeaderTraceID, h.TraceID)
	text(HeaderSpanID, h.SpanID)
	text(HeaderParentSpanID, h.ParentSpanID)
	text(HeaderOperationName, h.OperationName)
	if h.Priority != PriorityUnset {
		text(HeaderPriority, h.Priority.String())
	}
	text(HeaderRoutingKey, h.RoutingKey)
	text(HeaderPartitionKey, h.PartitionKey)
	num(HeaderRetryCount, h.RetryCount)
	num(HeaderMaxRetries, h.MaxRetries)
	num(HeaderTTLSeconds, h.TTLSeconds)
	text(HeaderTraceParent, h.TraceParent)
	for _, x := range h.Extra {
		b.HeaderString(x.Key, x.Value)
	}
}

// appendRFC3339NanoUTC appends t.UTC().AppendFormat(dst, time.RFC3339Nano)
// without the general formatter (about a fifth of a publish's header
// cost): years 0-9999, the fraction without trailing zeros, Z.
func appendRFC3339NanoUTC(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	two := func(v int) { dst = append(dst, byte('0'+v/10), byte('0'+v%10)) }
	two(year / 100)
	two(year % 100)
	dst = append(dst, '-')
	two(int(month))
	dst = append(dst, '-')
	two(day)
	dst = append(dst, 'T')
	two(hour)
	dst = append(dst, ':')
	two(minute)
	dst = append(dst, ':')
	two(sec)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// appendUUIDText appends the canonical 36-character form of u.
func appendUUIDText(dst []byte, u uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0x0f])
	}
	return dst
}

// decodeKafkaRecord decodes one Kafka record of the batch bh, stored at
// offset off of topic/part, into m; rec is read by kbatch.ReadRecordRaw
// (its headers still encoded). Key and Value are copied (unless alias); the headers
// are mapped as HeadersFromRecord maps them (bad values fall back with a
// warning on log and are kept in Unparsed). A record without a usable
// message_id gets derivedMessageID(topicID, part, off), so that every read
// of it (redelivery, the DLQ, replay) sees one id.
//
// With alias, m's Key and Value are rec's (the caller's bytes), not a copy.
func decodeKafkaRecord(topic string, topicID [16]byte, part int32, off int64, bh *kbatch.Header, rec *kbatch.Record, m *Message, log hclog.Logger, alias bool) {
	*m = Message{Topic: topic, Partition: part, Offset: off}
	if alias {
		m.Key, m.Value = rec.Key, rec.Value
	} else if rec.Key != nil || rec.Value != nil {
		kv := make([]byte, len(rec.Key)+len(rec.Value))
		nk := copy(kv, rec.Key)
		copy(kv[nk:], rec.Value)
		if rec.Key != nil {
			m.Key = kv[:nk:nk]
		}
		if rec.Value != nil {
			m.Value = kv[nk:]
		}
	}
	m.Timestamp = time.UnixMilli(rec.Timestamp(bh))
	if !fastKafkaHeaders(topic, rec.RawHeaders, &m.Headers) {
		rh := make([]RecordHeader, 0, rec.NumHeaders)
		for raw := rec.RawHeaders; len(raw) > 0; {
			k, v, rest, err := kbatch.NextHeader(raw)
			if err != nil {
				break // RawHeaders of a record that read cleanly always walk
			}
			rh = append(rh, RecordHeader{Key: string(k), Value: v})
			raw = rest
		}
		m.Headers = HeadersFromRecord(rh, log)
	}
	if m.Headers.MessageID == uuid.Nil {
		m.Headers.MessageID = derivedMessageID(topicID, part, off)
	}
}

// derivedMessageID is the message id of a record stored without one: a
// UUIDv8 (RFC 9562) whose 122 free bits are the first bits of
// SHA-256(topic id, partition, offset). The same stored record always
// gets the same id, and records of different topics (by their persisted
// ids), partitions or offsets different ones.
func derivedMessageID(topicID [16]byte, part int32, off int64) uuid.UUID {
	var in [16 + 4 + 8]byte
	copy(in[:], topicID[:])
	binary.BigEndian.PutUint32(in[16:], uint32(part))
	binary.BigEndian.PutUint64(in[20:], uint64(off))
	sum := sha256.Sum256(in[:])
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// Bits of fastKafkaHeaders' seen set, one per named header.
const (
	seenCorrelation = 1 << iota
	seenMessageID
	seenTimestamp
	seenPriority
	seenRetryCount
	seenMaxRetries
	seenTTL
	seenTexts // first of the text headers' bits
)

// fastKafkaHeaders maps record headers into h for the common case, the
// headers a Bus.Publish writes: every value parses and no named header
// repeats. It allocates one string for all the text values (none for
// values equal to topic or the defaults) plus Extra. It reports false,
// leaving h to be overwritten, when anything is unusual; the caller then
// uses HeadersFromRecord, whose fallbacks and warnings stay the one
// definition of what a foreign header means.
func fastKafkaHeaders(topic string, rawHeaders []byte, h *Headers) bool {
	*h = Headers{}
	var seen uint32
	// Text values are gathered into one string; offs marks where each went.
	var textOffs [kafkaTextHeaderCount][2]int
	size, extras := 0, 0
	for raw := rawHeaders; len(raw) > 0; {
		var r kbatch.RecordHeader
		var err error
		if r.Key, r.Value, raw, err = kbatch.NextHeader(raw); err != nil {
			return false
		}
		if len(r.Value) == 0 {
			if isWireKey(r.Key) {
				continue // an empty named header counts as absent
			}
		}
		if i := textHeaderIndex(r.Key); i >= 0 {
			if len(r.Value) > MaxHeaderLen {
				return false
			}
			if _, ok := internKafka(r.Value, topic); !ok {
				size += len(r.Value)
			}
			continue
		}
		if !isWireKey(r.Key) {
			if len(r.Key) == 0 {
				return false
			}
			extras++
			size += len(r.Key) + len(r.Value)
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	type pending struct{ start, klen, vlen int }
	var extraSpans []pending
	if extras > 0 {
		extraSpans = make([]pending, 0, extras)
	}
	for raw := rawHeaders; len(raw) > 0; {
		var r kbatch.RecordHeader
		var err error
		if r.Key, r.Value, raw, err = kbatch.NextHeader(raw); err != nil {
			return false
		}
		if len(r.Value) == 0 && isWireKey(r.Key) {
			continue
		}
		bit := uint32(0)
		switch string(r.Key) {
		case HeaderCorrelationID:
			bit = seenCorrelation
			u, err := uuid.ParseBytes(r.Value)
			if err != nil {
				return false
			}
			h.CorrelationID = u
		case HeaderMessageID:
			bit = seenMessageID
			u, err := uuid.ParseBytes(r.Value)
			if err != nil {
				return false
			}
			h.MessageID = u
		case HeaderTimestamp:
			bit = seenTimestamp
			t, ok := parseUTCTimestamp(r.Value)
			if !ok {
				return false
			}
			h.Timestamp = t
		case HeaderPriority:
			bit = seenPriority
			// The lower-case spellings the bus writes; other cases
			// (ParsePriority is case-insensitive) take the slow path.
			switch string(r.Value) {
			case "normal":
				h.Priority = PriorityNormal
			case "low":
				h.Priority = PriorityLow
			case "high":
				h.Priority = PriorityHigh
			case "critical":
				h.Priority = PriorityCritical
			default:
				return false
			}
		case HeaderRetryCount:
			bit = seenRetryCount
			n, ok := parseCount(r.Value, false)
			if !ok {
				return false
			}
			h.RetryCount = n
		case HeaderMaxRetries:
			bit = seenMaxRetries
			n, ok := parseCount(r.Value, true)
			if !ok {
				return false
			}
			h.MaxRetries = n
		case HeaderTTLSeconds:
			bit = seenTTL
			n, ok := parseCount(r.Value, false)
			if !ok {
				return false
			}
			h.TTLSeconds = n
		default:
			if i := textHeaderIndex(r.Key); i >= 0 {
				bit = seenTexts << i
				if s, ok := internKafka(r.Value, topic); ok {
					*textField(h, i) = s
					textOffs[i] = [2]int{-1, -1}
				} else {
					s := sb.Len()
					sb.Write(r.Value)
					textOffs[i] = [2]int{s, sb.Len()}
				}
				break
			}
			s := sb.Len()
			sb.Write(r.Key)
			sb.Write(r.Value)
			extraSpans = append(extraSpans, pending{s, len(r.Key), len(r.Value)})
		}
		if bit != 0 {
			if seen&bit != 0 {
				return false // a repeated named header: the last wins, in the slow path
			}
			seen |= bit
		}
	}
	all := sb.String()
	for i := range kafkaTextHeaderCount {
		if seen&(seenTexts<<i) != 0 && textOffs[i][0] >= 0 {
			*textField(h, i) = all[textOffs[i][0]:textOffs[i][1]]
		}
	}
	if len(extraSpans) > 0 {
		h.Extra = make([]Header, len(extraSpans))
		for i, p := range extraSpans {
			h.Extra[i] = Header{Key: all[p.start : p.start+p.klen], Value: all[p.start+p.klen : p.start+p.klen+p.vlen]}
		}
	}
	return true
}

// kafkaTextHeaderCount is the number of named text headers.
const kafkaTextHeaderCount = 12

// textField returns the field of h for text header i (textHeaderIndex).
// A switch rather than a table of funcs, so that h does not escape.
func textField(h *Headers, i int) *string {
	switch i {
	case 0:
		return &h.Source
	case 1:
		return &h.EventType
	case 2:
		return &h.ContentType
	case 3:
		return &h.SchemaVersion
	case 4:
		return &h.Destination
	case 5:
		return &h.TraceID
	case 6:
		return &h.SpanID
	case 7:
		return &h.ParentSpanID
	case 8:
		return &h.OperationName
	case 9:
		return &h.RoutingKey
	case 10:
		return &h.PartitionKey
	default:
		return &h.TraceParent
	}
}

// textHeaderIndex returns the index in kafkaTextHeaders of the header
// named k, or -1.
func textHeaderIndex(k []byte) int {
	switch string(k) {
	case HeaderSource:
		return 0
	case HeaderEventType:
		return 1
	case HeaderContentType:
		return 2
	case HeaderSchemaVersion:
		return 3
	case HeaderDestination:
		return 4
	case HeaderTraceID:
		return 5
	case HeaderSpanID:
		return 6
	case HeaderParentSpanID:
		return 7
	case HeaderOperationName:
		return 8
	case HeaderRoutingKey:
		return 9
	case HeaderPartitionKey:
		return 10
	case HeaderTraceParent:
		return 11
	}
	return -1
}

// isWireKey reports whether k is the wire name of a Headers field.
func isWireKey(k []byte) bool {
	switch string(k) {
	case HeaderCorrelationID, HeaderMessageID, HeaderTimestamp, HeaderPriority,
		HeaderRetryCount, HeaderMaxRetries, HeaderTTLSeconds:
		return true
	}
	return textHeaderIndex(k) >= 0
}

// internKafka returns the existing string equal to b when there is one:
// the topic (event_type by default) and the default content type and
// schema version.
func internKafka(b []byte, topic string) (string, bool) {
	switch {
	case string(b) == topic:
		return topic, true
	case string(b) == DefaultContentType:
		return DefaultContentType, true
	case string(b) == DefaultSchemaVersion:
		return DefaultSchemaVersion, true
	}
	return "", false
}

// parseCount parses a decimal count as strconv.Atoi does; negative values
// only when negOK.
func parseCount(b []byte, negOK bool) (int, bool) {
	n, err := strconv.Atoi(string(b))
	if err != nil || (n < 0 && !negOK) {
		return 0, false
	}
	return n, true
}

// parseUTCTimestamp parses the form AppendRecordHeaders writes,
// 2006-01-02T15:04:05[.fraction]Z, without time.Parse's generality; any
// other form (an offset zone, out-of-range fields) reports false and is
// left to the slow path.
func parseUTCTimestamp(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(p []byte) (int, bool) {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	frac := b[19 : len(b)-1]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}

// kafkaRecordError wraps a record walk failure with where it happened.
func kafkaRecordError(topic string, part int32, off int64, err error) error {
	return fmt.Errorf("%s/%d at offset %d: %w: %w", topic, part, off, ErrCorruptMessage, err)
}
