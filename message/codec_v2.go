package message

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/bits"
	"time"

	"github.com/google/uuid"
)

// The stored form of a message, version 2:
//
//	version byte (2)
//	fields   uvarint: bit i set when field i below is stored
//	the stored fields, in the order of their bits
//	CRC-32C (Castagnoli), big-endian, of everything before it (the
//	version byte included), unless the record is framed (bit 0)
//
// A field that is not stored has the value given in its row: most
// messages store their value, source and little else. Lengths are
// uvarints; bytes and str are a length and the bytes; int is a zigzag
// varint; time is an int of seconds since the Unix epoch and a uvarint of
// nanoseconds (0-999999999).
//
//	bit field           stored as        when not stored
//	 0  framed          (no bytes)       standalone: the values in () below
//	 1  key             bytes            nil
//	 2  value           bytes            nil
//	 3  source          str              ""
//	 4  event_type      str              the topic (framed) or ("")
//	 5  content_type    str              DefaultContentType
//	 6  schema_version  str              DefaultSchemaVersion
//	 7  timestamp       time             the frame's (framed) or (zero)
//	 8  correlation_id  16 bytes         the frame's (framed) or (nil UUID)
//	 9  message_id      16 bytes         the frame's (framed) or (nil UUID)
//	10  headers time    time             the message timestamp
//	11  priority        1 byte           PriorityNormal
//	12  max_retries     int              DefaultMaxRetries
//	13  retry_count     int              0
//	14  ttl_seconds     int              0
//	15-22 destination, trace_id, span_id, parent_span_id, operation_name,
//	    routing_key, partition_key, traceparent: str, ""
//	23  extra           uvarint count, then str key, str value each; none
//	24  unparsed        as extra; none
//	25+ added by a later writer: bytes each, skipped by this reader
//
// A framed record is the body of a log record whose frame holds the
// message's timestamp and ids (Envelope): the frame's CRC covers the
// body, and the frame's fields are not stored twice. The writer leaves
// out exactly the fields equal to their not-stored value, so one message
// has one encoding; the reader accepts a stored field equal to it too.
const codecV2 = 2

// The field bits of version 2.
const (
	v2Framed = 1 << iota
	v2Key
	v2Value
	v2Source
	v2EventType
	v2ContentType
	v2SchemaVersion
	v2Timestamp
	v2CorrelationID
	v2MessageID
	v2HeadersTime
	v2Priority
	v2MaxRetries
	v2RetryCount
	v2TTL
	v2Destination
	v2TraceID
	v2SpanID
	v2ParentSpanID
	v2OperationName
	v2RoutingKey
	v2PartitionKey
	v2TraceParent
	v2Extra
	v2Unparsed
	v2Later // the first bit of fields this reader does not know
)

// Envelope is what the container of a framed record holds for it: the
// topic the log keeps the record under and the log frame's timestamp and
// ids. AppendRecord leaves out the message's fields equal to these;
// DecodeRecord takes them from here.
type Envelope struct {
	// Topic is the record's topic (the default event_type).
	Topic string
	// Timestamp is the frame's time in Unix nanoseconds.
	Timestamp int64
	// MessageID and CorrelationID are the frame's ids.
	MessageID, CorrelationID uuid.UUID
}

// textsV2 are the positions of raw.texts (the order of v1's fields 8-19)
// and the bit of each in version 2.
var textBitsV2 = [codecTexts]uint64{
	v2Source, v2EventType, v2ContentType, v2SchemaVersion,
	v2Destination, v2TraceID, v2SpanID, v2ParentSpanID,
	v2OperationName, v2RoutingKey, v2PartitionKey, v2TraceParent,
}

// texts returns h's named texts in raw.texts order.
func texts(h *Headers) [codecTexts]string {
	return [codecTexts]string{
		h.Source, h.EventType, h.ContentType, h.SchemaVersion,
		h.Destination, h.TraceID, h.SpanID, h.ParentSpanID,
		h.OperationName, h.RoutingKey, h.PartitionKey, h.TraceParent,
	}
}

// sameTime reports whether a and b are stored alike: the same second
// and nanosecond (location and monotonic reading are not stored).
func sameTime(a, b time.Time) bool {
	return a.Unix() == b.Unix() && a.Nanosecond() == b.Nanosecond()
}

// frameTime reports whether t is the frame time ns (Unix nanoseconds):
// t must be within int64 nanoseconds of the epoch, where UnixNano is
// exact, for the comparison to mean anything.
func frameTime(t time.Time, ns int64) bool {
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	sec := t.Unix()
	return sec > -maxSec && sec < maxSec && t.UnixNano() == ns
}

// v2Fields returns the field bits of m's encoding, framed in env when env
// is not nil.
func v2Fields(m *Message, env *Envelope) uint64 {
	h := &m.Headers
	var bits uint64
	if m.Key != nil {
		bits |= v2Key
	}
	if m.Value != nil {
		bits |= v2Value
	}
	eventType := ""
	if env != nil {
		bits |= v2Framed
		eventType = env.Topic
		if !frameTime(m.Timestamp, env.Timestamp) {
			bits |= v2Timestamp
		}
		if h.CorrelationID != env.CorrelationID {
			bits |= v2CorrelationID
		}
		if h.MessageID != env.MessageID {
			bits |= v2MessageID
		}
	} else {
		if !m.Timestamp.IsZero() {
			bits |= v2Timestamp
		}
		if h.CorrelationID != uuid.Nil {
			bits |= v2CorrelationID
		}
		if h.MessageID != uuid.Nil {
			bits |= v2MessageID
		}
	}
	if !sameTime(h.Timestamp, m.Timestamp) {
		bits |= v2HeadersTime
	}
	bits |= textBit(h.Source != "", v2Source) | textBit(h.EventType != eventType, v2EventType) |
		textBit(h.ContentType != DefaultContentType, v2ContentType) |
		textBit(h.SchemaVersion != DefaultSchemaVersion, v2SchemaVersion) |
		textBit(h.Destination != "", v2Destination) | textBit(h.TraceID != "", v2TraceID) |
		textBit(h.SpanID != "", v2SpanID) | textBit(h.ParentSpanID != "", v2ParentSpanID) |
		textBit(h.OperationName != "", v2OperationName) | textBit(h.RoutingKey != "", v2RoutingKey) |
		textBit(h.PartitionKey != "", v2PartitionKey) | textBit(h.TraceParent != "", v2TraceParent)
	if h.Priority != PriorityNormal {
		bits |= v2Priority
	}
	if h.MaxRetries != DefaultMaxRetries {
		bits |= v2MaxRetries
	}
	if h.RetryCount != 0 {
		bits |= v2RetryCount
	}
	if h.TTLSeconds != 0 {
		bits |= v2TTL
	}
	if len(h.Extra) > 0 {
		bits |= v2Extra
	}
	if len(h.Unparsed) > 0 {
		bits |= v2Unparsed
	}
	return bits
}

func textBit(set bool, bit uint64) uint64 {
	if set {
		return bit
	}
	return 0
}

// appendV2 appends m's version 2 encoding, framed in env when env is not
// nil.
func appendV2(dst []byte, m *Message, env *Envelope) []byte {
	start := len(dst)
	h := &m.Headers
	bits := v2Fields(m, env)
	dst = binary.AppendUvarint(append(dst, codecV2), bits)
	if bits&v2Key != 0 {
		dst = appendBytesV2(dst, m.Key)
	}
	if bits&v2Value != 0 {
		dst = appendBytesV2(dst, m.Value)
	}
	if bits&(v2Source|v2EventType|v2ContentType|v2SchemaVersion) != 0 {
		dst = appendTextV2(dst, bits, v2Source, h.Source)
		dst = appendTextV2(dst, bits, v2EventType, h.EventType)
		dst = appendTextV2(dst, bits, v2ContentType, h.ContentType)
		dst = appendTextV2(dst, bits, v2SchemaVersion, h.SchemaVersion)
	}
	if bits&v2Timestamp != 0 {
		dst = appendTimeV2(dst, m.Timestamp)
	}
	if bits&v2CorrelationID != 0 {
		dst = append(dst, h.CorrelationID[:]...)
	}
	if bits&v2MessageID != 0 {
		dst = append(dst, h.MessageID[:]...)
	}
	if bits&v2HeadersTime != 0 {
		dst = appendTimeV2(dst, h.Timestamp)
	}
	if bits&v2Priority != 0 {
		dst = append(dst, byte(h.Priority))
	}
	if bits&v2MaxRetries != 0 {
		dst = binary.AppendVarint(dst, int64(h.MaxRetries))
	}
	if bits&v2RetryCount != 0 {
		dst = binary.AppendVarint(dst, int64(h.RetryCount))
	}
	if bits&v2TTL != 0 {
		dst = binary.AppendVarint(dst, int64(h.TTLSeconds))
	}
	if bits&(v2Destination|v2TraceID|v2SpanID|v2ParentSpanID|v2OperationName|v2RoutingKey|v2PartitionKey|v2TraceParent) != 0 {
		dst = appendTextV2(dst, bits, v2Destination, h.Destination)
		dst = appendTextV2(dst, bits, v2TraceID, h.TraceID)
		dst = appendTextV2(dst, bits, v2SpanID, h.SpanID)
		dst = appendTextV2(dst, bits, v2ParentSpanID, h.ParentSpanID)
		dst = appendTextV2(dst, bits, v2OperationName, h.OperationName)
		dst = appendTextV2(dst, bits, v2RoutingKey, h.RoutingKey)
		dst = appendTextV2(dst, bits, v2PartitionKey, h.PartitionKey)
		dst = appendTextV2(dst, bits, v2TraceParent, h.TraceParent)
	}
	if bits&v2Extra != 0 {
		dst = appendListV2(dst, h.Extra)
	}
	if bits&v2Unparsed != 0 {
		dst = appendListV2(dst, h.Unparsed)
	}
	if env != nil {
		return dst
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// lenV2 returns len(appendV2(nil, m, env)) without encoding.
func lenV2(m *Message, env *Envelope) int {
	h := &m.Headers
	bits := v2Fields(m, env)
	n := 1 + uvarintSize(bits)
	if env == nil {
		n += 4
	}
	if bits&v2Key != 0 {
		n += bytesSizeV2(len(m.Key))
	}
	if bits&v2Value != 0 {
		n += bytesSizeV2(len(m.Value))
	}
	for i, s := range texts(h) {
		if bits&textBitsV2[i] != 0 {
			n += bytesSizeV2(len(s))
		}
	}
	if bits&v2Timestamp != 0 {
		n += timeSizeV2(m.Timestamp)
	}
	if bits&v2CorrelationID != 0 {
		n += 16
	}
	if bits&v2MessageID != 0 {
		n += 16
	}
	if bits&v2HeadersTime != 0 {
		n += timeSizeV2(h.Timestamp)
	}
	if bits&v2Priority != 0 {
		n++
	}
	if bits&v2MaxRetries != 0 {
		n += varintSize(int64(h.MaxRetries))
	}
	if bits&v2RetryCount != 0 {
		n += varintSize(int64(h.RetryCount))
	}
	if bits&v2TTL != 0 {
		n += varintSize(int64(h.TTLSeconds))
	}
	for _, l := range [2][]Header{h.Extra, h.Unparsed} {
		if len(l) == 0 {
			continue
		}
		n += uvarintSize(uint64(len(l)))
		for _, x := range l {
			n += bytesSizeV2(len(x.Key)) + bytesSizeV2(len(x.Value))
		}
	}
	return n
}

func appendBytesV2(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// appendTextV2 appends s when bits has bit.
func appendTextV2(dst []byte, bits, bit uint64, s string) []byte {
	if bits&bit == 0 {
		return dst
	}
	return appendStrV2(dst, s)
}

func appendStrV2(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendTimeV2(dst []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(dst, t.Unix()), uint64(t.Nanosecond()))
}

func appendListV2(dst []byte, l []Header) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l)))
	for _, x := range l {
		dst = appendStrV2(appendStrV2(dst, x.Key), x.Value)
	}
	return dst
}

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintSize(v int64) int { return uvarintSize(uint64(v<<1) ^ uint64(v>>63)) }

func bytesSizeV2(n int) int { return uvarintSize(uint64(n)) + n }

func timeSizeV2(t time.Time) int {
	return varintSize(t.Unix()) + uvarintSize(uint64(t.Nanosecond()))
}

// parseV2 validates a version 2 encoding b (version byte included) and
// records its fields. env is the record's container, or nil for bytes
// decoded on their own, which must then not be framed. checkCRC checks
// a standalone encoding's trailer.
func (raw *rawMessage) parseV2(b []byte, env *Envelope, checkCRC bool) error {
	r := vreader{b: b, i: 1}
	bits := r.uvarint()
	if r.bad {
		return corrupt("field bits: truncated or overlong uvarint")
	}
	framed := bits&v2Framed != 0
	switch {
	case framed && env == nil:
		return corrupt("a framed record (its log frame holds its timestamp and ids), decoded without its frame")
	case !framed:
		if len(b) < r.i+4 {
			return corrupt("%d bytes, too short for the CRC", len(b))
		}
		body := b[:len(b)-4]
		if checkCRC {
			if want, got := binary.BigEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
				return corrupt("CRC-32C is %08x, want %08x", got, want)
			}
		}
		r.b = body
	}
	raw.v2 = true
	if bits&v2Key != 0 {
		raw.key = r.bytes()
		if raw.key == nil && !r.bad {
			raw.key = []byte{}
		}
	}
	if bits&v2Value != 0 {
		raw.value = r.bytes()
		if raw.value == nil && !r.bad {
			raw.value = []byte{}
		}
	}
	// A text not stored is a constant (or the topic), shared as it is.
	if framed {
		raw.topic = env.Topic
	}
	raw.textsV2(&r, bits, 0, 4, v2Source)
	switch {
	case bits&v2Timestamp != 0:
		raw.time = r.time()
	case framed:
		raw.time = time.Unix(0, env.Timestamp).UTC()
	}
	switch {
	case bits&v2CorrelationID != 0:
		copy(raw.ids[0][:], r.next(16))
	case framed:
		raw.ids[0] = env.CorrelationID
	}
	switch {
	case bits&v2MessageID != 0:
		copy(raw.ids[1][:], r.next(16))
	case framed:
		raw.ids[1] = env.MessageID
	}
	if bits&v2HeadersTime != 0 {
		raw.htime = r.time()
	} else {
		raw.htime = raw.time
	}
	raw.ints = [4]int64{int64(PriorityNormal), 0, DefaultMaxRetries, 0}
	if bits&v2Priority != 0 {
		if p := r.next(1); p != nil {
			raw.ints[0] = int64(p[0])
		}
	}
	if bits&v2MaxRetries != 0 {
		raw.ints[2] = r.varint()
	}
	if bits&v2RetryCount != 0 {
		raw.ints[1] = r.varint()
	}
	if bits&v2TTL != 0 {
		raw.ints[3] = r.varint()
	}
	raw.textsV2(&r, bits, 4, codecTexts-4, v2Destination)
	for li, bit := range [2]uint64{v2Extra, v2Unparsed} {
		if bits&bit == 0 {
			continue
		}
		start := r.i
		n := r.uvarint()
		// Every header takes at least two bytes.
		if n > uint64(len(r.b)-r.i)/2 {
			r.bad = true
		}
		for range 2 * n {
			if r.bad {
				break
			}
			raw.listBytes[li] += len(r.bytes())
		}
		raw.lists[li] = r.b[start:r.i]
		raw.listLen[li] = int(n)
	}
	// Fields of a later writer: a length and bytes each.
	for later := bits / v2Later; later != 0 && !r.bad; later >>= 1 {
		if later&1 != 0 {
			r.bytes()
		}
	}
	if r.bad {
		return corrupt("truncated or malformed field at byte %d", r.i)
	}
	if r.i != len(r.b) {
		return corrupt("%d trailing bytes", len(r.b)-r.i)
	}
	return raw.checkInts()
}

// textsV2 reads the n texts from first on that fields says are stored,
// their bits being n consecutive ones from low (textBitsV2[first]); the
// others keep their not-stored values (decodeMessage). Only the stored
// ones cost anything: a message stores few.
func (raw *rawMessage) textsV2(r *vreader, fields uint64, first, n int, low uint64) {
	for t := fields / low & (1<<n - 1); t != 0; t &= t - 1 {
		i := first + bits.TrailingZeros64(t)
		raw.texts[i] = r.bytes()
		raw.stored |= 1 << i
	}
}

// v2Strings calls fn with each string of a version 2 header list region
// that parseV2 validated.
func v2Strings(region []byte, fn func([]byte)) {
	r := vreader{b: region}
	for range 2 * r.uvarint() {
		fn(r.bytes())
	}
}

// vreader reads version 2 fields from b. The first error sets bad; after
// it every read returns a zero value, so a sequence of reads is checked
// once.
type vreader struct {
	b   []byte
	i   int
	bad bool
}

func (r *vreader) next(n int) []byte {
	if r.bad || n < 0 || n > len(r.b)-r.i {
		r.bad = true
		return nil
	}
	s := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s
}

func (r *vreader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.i += n
	return v
}

func (r *vreader) varint() int64 {
	if r.bad {
		return 0
	}
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.i += n
	return v
}

// bytes reads a length and that many bytes; the length is checked
// against what is left before anything is sliced.
func (r *vreader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.i) {
		r.bad = true
		return nil
	}
	return r.next(int(n))
}

// time reads seconds and nanoseconds; the result is in UTC.
func (r *vreader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if r.bad {
		return time.Time{}
	}
	if nsec > 999_999_999 {
		r.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// checkInts checks the decoded integers fit their fields.
func (raw *rawMessage) checkInts() error {
	if p := raw.ints[0]; p < 0 || p > math.MaxUint8 {
		return corrupt("priority %d out of range", p)
	}
	for _, v := range raw.ints[1:] {
		if v < math.MinInt || v > math.MaxInt {
			return corrupt("count %d out of range", v)
		}
	}
	return nil
}
