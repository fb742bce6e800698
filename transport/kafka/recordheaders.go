package kafka

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// HeaderEncoding is how the forwarder writes a message's ONEX headers on
// its Kafka record.
type HeaderEncoding uint8

const (
	// HeadersText (the default) writes every set field under its wire
	// name as UTF-8 text, byte for byte core.Headers.AppendRecordHeaders:
	// what a Kafka consumer of the original system reads. A message with
	// the bus's defaults carries nine headers, about 256 bytes.
	HeadersText HeaderEncoding = iota
	// HeadersCompact writes the same text headers but leaves out those
	// whose values are what core.Headers.ApplyDefaults would fill in on
	// the reading side: event_type equal to the topic, content_type
	// DefaultContentType, schema_version DefaultSchemaVersion, priority
	// normal, max_retries DefaultMaxRetries. A message with the bus's
	// defaults then carries four headers (correlation_id, message_id,
	// timestamp, source), about 120 bytes. An onexbus Ingest (or any
	// reader applying the ONEX defaults) reads the same headers as with
	// HeadersText; a consumer that expects all nine does not find them,
	// so this is opt-in.
	HeadersCompact
)

// WithHeaderEncoding sets how the forwarder writes the ONEX headers
// (default HeadersText).
func WithHeaderEncoding(e HeaderEncoding) ForwarderOption {
	return func(c *fwdConfig) error {
		if e != HeadersText && e != HeadersCompact {
			return fmt.Errorf("header encoding %d: not HeadersText or HeadersCompact", e)
		}
		c.headers = e
		return nil
	}
}

// A headerEncoder writes the ONEX headers of a run of messages as kgo
// record headers, byte for byte what core.Headers.AppendRecordHeaders
// writes (the same names, values and order, absent fields left out), at
// a fraction of its cost per record:
//
//   - one slab of kgo.RecordHeader and one of value bytes per run, not a
//     buffer and a header slice per record;
//   - a value equal to the previous record's (source, event_type,
//     content_type, schema_version, priority, max_retries: the same on
//     almost every record) is the previous record's bytes, not a copy;
//   - the timestamp's date and time of day are formatted once per second;
//   - the headers after the timestamp, when a record has no per-record
//     text among them (trace and span ids, partition_key, traceparent,
//     extras), depend only on values that repeat (tailKey): a record with
//     the previous such record's values gets a copy of its run of
//     kgo.RecordHeader, not one header at a time.
//
// With HeadersCompact it leaves out the default-valued headers (see
// HeadersCompact).
//
// The slabs belong to the records made from them, which kgo holds until
// Kafka answers: an encoder is reset for the next run only once every
// record of its run has its outcome (fwdBatch reuses it so).
type headerEncoder struct {
	compact bool
	topic   string // the record's topic, for compact's event_type
	hdrs    []kgo.RecordHeader
	buf     []byte
	// last holds, per header position among the named fields, the text
	// of the previous record's value and its bytes in buf.
	last [numNamed]lastValue
	// sec and secText cache the formatted second of the last timestamp.
	sec     int64
	secText []byte
	// tail and tailRun are the tailKey of the last record written
	// without a per-record text after its timestamp, and its headers
	// from source on (their values in buf); tailOK says they are set.
	tail    tailKey
	tailRun []kgo.RecordHeader
	tailOK  bool
}

// tailKey holds every value the headers after the timestamp are written
// from, as encode writes them (after HeadersCompact's clearing), for a
// record whose per-record texts there are all absent.
type tailKey struct {
	source, eventType, contentType, schemaVersion, destination, operationName, routingKey string
	priority                                                                              core.Priority
	retryCount, maxRetries, ttlSeconds                                                    int
}

type lastValue struct {
	text string // a text field's value
	num  int    // a number field's value
	b    []byte // its bytes in buf; nil before the first
}

// The named fields that repeat across records, in wire order: their
// index into headerEncoder.last.
const (
	lastSource = iota
	lastEventType
	lastContentType
	lastSchemaVersion
	lastDestination
	lastOperationName
	lastPriority
	lastRoutingKey
	lastRetryCount
	lastMaxRetries
	lastTTLSeconds
	numNamed
)

// reset empties e for a new run written with enc to topic, keeping its
// slabs' arrays. Only once no record made from the previous run is held
// (kgo gave each its outcome) may their bytes be written again. Growing
// within a run is safe: values and header runs already handed out keep
// the old array, and nothing is written into it again.
func (e *headerEncoder) reset(enc HeaderEncoding, topic string) {
	e.compact, e.topic = enc == HeadersCompact, topic
	e.hdrs, e.buf = e.hdrs[:0], e.buf[:0]
	e.last = [numNamed]lastValue{}
	e.sec, e.secText = -1<<63, e.secText[:0]
	e.tailOK = false
	clear(e.tailRun) // its values point into the previous run's bytes
	e.tailRun = e.tailRun[:0]
}

// encode returns the headers of h, a sub-slice of the encoder's slab.
func (e *headerEncoder) encode(h *core.Headers) []kgo.RecordHeader {
	first := len(e.hdrs)
	if h.CorrelationID != uuid.Nil {
		e.uuid(core.HeaderCorrelationID, h.CorrelationID)
	}
	if h.MessageID != uuid.Nil {
		e.uuid(core.HeaderMessageID, h.MessageID)
	}
	if !h.Timestamp.IsZero() {
		s := len(e.buf)
		e.buf = e.appendTimestamp(e.buf, h.Timestamp)
		e.add(core.HeaderTimestamp, e.buf[s:len(e.buf):len(e.buf)])
	}
	eventType, contentType, schemaVersion, priority, maxRetries := h.EventType, h.ContentType, h.SchemaVersion, h.Priority, h.MaxRetries
	if e.compact {
		// What ApplyDefaults fills in on the reading side.
		if eventType == e.topic {
			eventType = ""
		}
		if contentType == core.DefaultContentType {
			contentType = ""
		}
		if schemaVersion == core.DefaultSchemaVersion {
			schemaVersion = ""
		}
		if priority == core.PriorityNormal {
			priority = core.PriorityUnset
		}
		if maxRetries == core.DefaultMaxRetries {
			maxRetries = 0
		}
	}
	// Without a per-record text after the timestamp, what follows is a
	// function of key: the previous such record's run when key is the
	// same (its values are bytes of this run, never written again).
	fixed := h.TraceID == "" && h.SpanID == "" && h.ParentSpanID == "" && h.PartitionKey == "" && h.TraceParent == "" && len(h.Extra) == 0
	var key tailKey
	if fixed {
		key = tailKey{
			source: h.Source, eventType: eventType, contentType: contentType, schemaVersion: schemaVersion,
			destination: h.Destination, operationName: h.OperationName, routingKey: h.RoutingKey,
			priority: priority, retryCount: h.RetryCount, maxRetries: maxRetries, ttlSeconds: h.TTLSeconds,
		}
		if e.tailOK && key == e.tail {
			e.hdrs = append(e.hdrs, e.tailRun...)
			return e.hdrs[first:len(e.hdrs):len(e.hdrs)]
		}
	}
	mark := len(e.hdrs)
	e.repeated(lastSource, core.HeaderSource, h.Source)
	e.repeated(lastEventType, core.HeaderEventType, eventType)
	e.repeated(lastContentType, core.HeaderContentType, contentType)
	e.repeated(lastSchemaVersion, core.HeaderSchemaVersion, schemaVersion)
	e.repeated(lastDestination, core.HeaderDestination, h.Destination)
	e.text(core.HeaderTraceID, h.TraceID)
	e.text(core.HeaderSpanID, h.SpanID)
	e.text(core.HeaderParentSpanID, h.ParentSpanID)
	e.repeated(lastOperationName, core.HeaderOperationName, h.OperationName)
	if priority != core.PriorityUnset {
		// An out-of-range priority is written as its String form, as
		// AppendRecordHeaders does.
		e.repeated(lastPriority, core.HeaderPriority, priority.String())
	}
	e.repeated(lastRoutingKey, core.HeaderRoutingKey, h.RoutingKey)
	e.text(core.HeaderPartitionKey, h.PartitionKey)
	e.number(lastRetryCount, core.HeaderRetryCount, h.RetryCount)
	e.number(lastMaxRetries, core.HeaderMaxRetries, maxRetries)
	e.number(lastTTLSeconds, core.HeaderTTLSeconds, h.TTLSeconds)
	e.text(core.HeaderTraceParent, h.TraceParent)
	for _, x := range h.Extra {
		// Extra headers are written even when empty, as
		// AppendRecordHeaders does.
		e.add(x.Key, e.copyText(x.Value))
	}
	if fixed {
		e.tail, e.tailOK = key, true
		e.tailRun = append(e.tailRun[:0], e.hdrs[mark:]...)
	}
	return e.hdrs[first:len(e.hdrs):len(e.hdrs)]
}

func (e *headerEncoder) add(key string, v []byte) {
	e.hdrs = append(e.hdrs, kgo.RecordHeader{Key: key, Value: v})
}

// copyText appends v to buf and returns its bytes there.
func (e *headerEncoder) copyText(v string) []byte {
	s := len(e.buf)
	e.buf = append(e.buf, v...)
	return e.buf[s:len(e.buf):len(e.buf)]
}

// copyBytes appends v to buf and returns its bytes there; nil stays nil
// (a Kafka record tells a null key or value from an empty one).
func (e *headerEncoder) copyBytes(v []byte) []byte {
	if v == nil {
		return nil
	}
	s := len(e.buf)
	e.buf = append(e.buf, v...)
	return e.buf[s:len(e.buf):len(e.buf)]
}

// text writes a non-empty v (a value that differs per record).
func (e *headerEncoder) text(key, v string) {
	if v != "" {
		e.add(key, e.copyText(v))
	}
}

// repeated writes a non-empty v, sharing the previous record's bytes
// when v is the same.
func (e *headerEncoder) repeated(i int, key, v string) {
	if v == "" {
		return
	}
	l := &e.last[i]
	if l.b == nil || l.text != v {
		l.text, l.b = v, e.copyText(v)
	}
	e.add(key, l.b)
}

// number writes a non-zero v in decimal, sharing the previous record's
// bytes when v is the same.
func (e *headerEncoder) number(i int, key string, v int) {
	if v == 0 {
		return
	}
	l := &e.last[i]
	if l.b == nil || l.num != v {
		s := len(e.buf)
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
		l.num, l.b = v, e.buf[s:len(e.buf):len(e.buf)]
	}
	e.add(key, l.b)
}

func (e *headerEncoder) uuid(key string, u uuid.UUID) {
	s := len(e.buf)
	e.buf = slices.Grow(e.buf, 36)[:s+36]
	dst := e.buf[s : s+36 : s+36]
	// 8-4-4-4-12 hex digits, written in place two at a time from a
	// table (no append per byte).
	putHex(dst[0:8], u[0:4])
	dst[8] = '-'
	putHex(dst[9:13], u[4:6])
	dst[13] = '-'
	putHex(dst[14:18], u[6:8])
	dst[18] = '-'
	putHex(dst[19:23], u[8:10])
	dst[23] = '-'
	putHex(dst[24:36], u[10:16])
	e.add(key, dst)
}

// hexPairs holds the two lower-case hex digits of every byte value.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&15]}
	}
	return t
}()

// putHex writes the lower-case hex digits of src into dst, which holds
// 2*len(src) bytes, as encoding/hex.Encode does.
func putHex(dst, src []byte) {
	_ = dst[2*len(src)-1]
	for i, v := range src {
		p := &hexPairs[v]
		dst[2*i], dst[2*i+1] = p[0], p[1]
	}
}

// appendTimestamp appends t in UTC as time.RFC3339Nano formats it
// ("2006-01-02T15:04:05.999999999Z": the fraction without trailing
// zeros, none at all for a whole second), the second's text formatted
// once per distinct second.
func (e *headerEncoder) appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	if sec != e.sec || e.secText == nil {
		e.sec = sec
		e.secText = t.AppendFormat(e.secText[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, e.secText...)
	if ns := t.Nanosecond(); ns != 0 {
		// Nine digits, two at a time from the back (one division by 100
		// per pair instead of one by 10 per digit).
		var frac [10]byte
		frac[0] = '.'
		frac[9] = byte('0' + ns%10)
		ns /= 10
		for i := 7; i >= 1; i -= 2 {
			d := &decPairs[ns%100]
			frac[i], frac[i+1] = d[0], d[1]
			ns /= 100
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// decPairs holds the two decimal digits of every number below 100.
var decPairs = func() (t [100][2]byte) {
	for i := range t {
		t[i] = [2]byte{byte('0' + i/10), byte('0' + i%10)}
	}
	return t
}()
