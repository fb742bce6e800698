package message

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"strings"
	"time"
)

// The stored form of a message starts with its version byte. Version 2
// (codec_v2.go) is written; version 1 (codec_v1.go), written before
// 72fbfab, is still read, so logs written then read as they always did.
// Topic, Partition, Offset, ExplicitPartition and Duplicate are never
// encoded: they are positional in the log, or a publish's outcome. Times
// keep the nanosecond but not their location or monotonic reading.
const codecTexts = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendMessage appends the standalone stored form of m to dst and
// returns the extended slice: version 2 with every field that differs
// from its default (Key, Value, Timestamp and Headers, Extra and
// Unparsed included) and a CRC-32C, readable on its own by
// DecodeMessage. A log record's body is AppendRecord's framed form.
//
// AppendMessage does not allocate when dst has room; EncodedLen gives
// the room needed. Keys, values and strings longer than 4 GiB - 1 must
// be refused before (core.ErrMessageTooLarge).
func AppendMessage(dst []byte, m *Message) []byte { return appendV2(dst, m, nil) }

// EncodedLen returns len(AppendMessage(nil, m)) without encoding.
func EncodedLen(m *Message) int { return lenV2(m, nil) }

// AppendRecord appends the framed stored form of m to dst: the body of a
// log record whose frame holds env (m's topic, and m's Timestamp in Unix
// nanoseconds and ids as the frame stores them) and whose frame's CRC
// covers the body. The fields equal to env's are not stored again, nor
// is a CRC: a 256-byte value with default headers and a 7-byte source
// takes 268 bytes, where version 1 took 396. DecodeRecord reads it back,
// given the same envelope. AppendRecord does not allocate when dst has
// room (RecordLen).
func AppendRecord(dst []byte, m *Message, env Envelope) []byte { return appendV2(dst, m, &env) }

// RecordLen returns len(AppendRecord(nil, m, env)) without encoding.
func RecordLen(m *Message, env Envelope) int { return lenV2(m, &env) }

// DecodeRecord decodes the body of a log record into m as
// DecodeVerifiedMessage does, given the envelope its frame holds: a
// framed version 2 body (AppendRecord) takes from env the fields it left
// out; version 1 bodies and standalone version 2 ones are whole and
// ignore env. The body's own CRC, if it has one, is not checked again
// (the frame's covers it); everything else is, so bad bytes give an
// error wrapping ErrCorruptMessage, never a panic.
func DecodeRecord(b []byte, env Envelope, source string, m *Message) error {
	return decodeMessage(b, &env, env.Topic, source, m, false, false, nil)
}

// DecodeRecordIn is DecodeRecord with room for the bytes of Key and
// Value: when both fit in room (RecordDataLen), they are cut from it,
// Key first, instead of from a new allocation. Each has its capacity
// cut at its length, so an append to one never writes into the other or
// into the rest of room; room must not be used for anything else while
// m is. A delivery loop allocates the room with the message, which makes
// one allocation of the two.
func DecodeRecordIn(b []byte, env Envelope, source string, m *Message, room []byte) error {
	return decodeMessage(b, &env, env.Topic, source, m, false, false, room)
}

// RecordDataLen returns how many bytes the Key and Value of the stored
// form b hold together, read from its first fields without decoding the
// rest: the room DecodeRecordIn needs. It returns -1 when it cannot say
// cheaply (a version 1 form, or bytes that do not parse); DecodeRecordIn
// then allocates as DecodeRecord does, and reports any damage.
func RecordDataLen(b []byte) int {
	if len(b) == 0 || b[0] != codecV2 {
		return -1
	}
	r := vreader{b: b, i: 1}
	bits := r.uvarint()
	n := 0
	for _, bit := range [2]uint64{v2Key, v2Value} {
		if bits&bit != 0 {
			n += len(r.bytes())
		}
	}
	if r.bad {
		return -1
	}
	return n
}

// DecodeRecordView is DecodeRecord without copying the Key and Value:
// they alias b (nil when stored as nil), with capacities cut at their
// lengths, so they are valid only as long as b is, and a reader that
// keeps them copies them. Header texts are as
// DecodeRecord makes them (constants, or one new string). It suits a
// reader that copies each message somewhere else at once (the Kafka
// forwarder, into its record batch) and would otherwise copy the value
// twice.
func DecodeRecordView(b []byte, env Envelope, source string, m *Message) error {
	return decodeMessage(b, &env, env.Topic, source, m, false, true, nil)
}

// DecodeMessage decodes a standalone stored form (AppendMessage's, of
// version 2 or 1) into m's Key, Value, Timestamp and Headers (replacing
// them; other fields are left alone). Times come back in UTC. On error m
// is unchanged and the error wraps ErrCorruptMessage: a bad version
// byte, a CRC mismatch, malformed or truncated fields, trailing bytes,
// or a framed record (AppendRecord's), which only DecodeRecord can
// complete. DecodeMessage never panics.
//
// m does not alias b: Key and Value share one new allocation (Key's
// capacity ends where Value begins), and the strings share one more.
func DecodeMessage(b []byte, m *Message) error {
	return DecodeMessageTopic(b, "", m)
}

// DecodeMessageTopic is DecodeMessage for a message of the given topic: a
// header text equal to topic (typically event_type) reuses the topic
// string instead of allocating its own, as application/json and 1.0.0
// always do.
func DecodeMessageTopic(b []byte, topic string, m *Message) error {
	return decodeMessage(b, nil, topic, "", m, true, false, nil)
}

// DecodeVerifiedMessage is DecodeMessageTopic for bytes whose container
// already vouched for them, without checking the trailing CRC-32C again:
// the frame of a log record, whose own CRC covers these bytes and which
// the log's read checked (or which never left this process's memory).
// Everything else is checked as DecodeMessageTopic checks it, so bad
// bytes still give an error wrapping ErrCorruptMessage, never a panic.
// A header text equal to topic or to source (the bus's configured
// source, which most of its messages carry) reuses that string, as the
// default content type and schema version always do, so a message whose
// headers are all such texts costs no string allocation.
func DecodeVerifiedMessage(b []byte, topic, source string, m *Message) error {
	return decodeMessage(b, nil, topic, source, m, false, false, nil)
}

func decodeMessage(b []byte, env *Envelope, topic, source string, m *Message, checkCRC, alias bool, room []byte) error {
	var raw rawMessage
	switch {
	case len(b) == 0:
		return corrupt("empty")
	case b[0] == codecV2:
		if err := raw.parseV2(b, env, checkCRC); err != nil {
			return err
		}
	case b[0] == codecV1:
		if len(b) < 1+1+4 {
			return corrupt("%d bytes, too short", len(b))
		}
		body := b[:len(b)-4]
		if checkCRC {
			if want, got := binary.BigEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
				return corrupt("CRC-32C is %08x, want %08x", got, want)
			}
		}
		if err := raw.parseV1(body[1:]); err != nil {
			return err
		}
	default:
		return corrupt("unknown version %d", b[0])
	}

	// Allocate once for Key and Value (unless they alias b or fit in
	// room), once for the strings.
	switch {
	case alias:
		// Capacities end at the lengths: an append to Key or Value
		// (which a reader of a view must not do anyway) then allocates
		// instead of writing over the bytes that follow them in b.
		m.Key, m.Value = raw.key, raw.value
		if raw.key != nil {
			m.Key = raw.key[:len(raw.key):len(raw.key)]
		}
		if raw.value != nil {
			m.Value = raw.value[:len(raw.value):len(raw.value)]
		}
	case raw.key != nil || raw.value != nil:
		nk, nv := len(raw.key), len(raw.value)
		kv := room
		if kv == nil || nk+nv > len(kv) {
			kv = make([]byte, nk+nv)
		}
		copy(kv, raw.key)
		copy(kv[nk:], raw.value)
		m.Key, m.Value = nil, nil
		if raw.key != nil {
			m.Key = kv[:nk:nk]
		}
		if raw.value != nil {
			m.Value = kv[nk : nk+nv : nk+nv]
		}
	default:
		m.Key, m.Value = nil, nil
	}
	// A text that version 2 left out has its not-stored value: the
	// topic for event_type (framed; "" standalone), the default content
	// type and schema version, "" for the others. A stored text that is
	// a constant (a default, the topic or the source) is shared as it
	// is; the others, and the strings of the header lists, share one
	// allocation.
	strs := [codecTexts]string{1: raw.topic, 2: DefaultContentType, 3: DefaultSchemaVersion}
	var own uint16 // bit i: text i is taken from the allocation
	need := raw.listBytes[0] + raw.listBytes[1]
	for t := raw.stored; t != 0; t &= t - 1 {
		i := bits.TrailingZeros16(t)
		if c, ok := intern(raw.texts[i], topic, source); ok {
			strs[i] = c
		} else {
			own |= 1 << i
			need += len(raw.texts[i])
		}
	}
	var all string
	off := 0
	if need > 0 {
		var sb strings.Builder
		sb.Grow(need)
		for i, t := range raw.texts {
			if own&(1<<i) != 0 {
				sb.Write(t)
			}
		}
		for _, region := range raw.lists {
			if len(region) > 0 {
				raw.strings(region, func(s []byte) { sb.Write(s) })
			}
		}
		all = sb.String()
		for i, t := range raw.texts {
			if own&(1<<i) != 0 {
				strs[i] = all[off : off+len(t)]
				off += len(t)
			}
		}
	}
	var lists [2][]Header
	for li, region := range raw.lists {
		n := raw.listLen[li]
		if n == 0 {
			continue
		}
		l := make([]Header, n)
		i, k := 0, -1
		raw.strings(region, func(s []byte) {
			if k < 0 {
				k = len(s)
				return
			}
			l[i] = Header{Key: all[off : off+k], Value: all[off+k : off+k+len(s)]}
			off += k + len(s)
			i, k = i+1, -1
		})
		lists[li] = l
	}
	m.Headers = Headers{
		CorrelationID: raw.ids[0],
		MessageID:     raw.ids[1],
		Timestamp:     raw.htime,
		Source:        strs[0],
		EventType:     strs[1],
		ContentType:   strs[2],
		SchemaVersion: strs[3],
		Destination:   strs[4],
		TraceID:       strs[5],
		SpanID:        strs[6],
		ParentSpanID:  strs[7],
		OperationName: strs[8],
		Priority:      Priority(raw.ints[0]),
		RoutingKey:    strs[9],
		PartitionKey:  strs[10],
		RetryCount:    int(raw.ints[1]),
		MaxRetries:    int(raw.ints[2]),
		TTLSeconds:    int(raw.ints[3]),
		TraceParent:   strs[11],
		Extra:         lists[0],
		Unparsed:      lists[1],
	}
	m.Timestamp = raw.time
	return nil
}

// intern returns the constant string equal to b, if there is one.
func intern(b []byte, topic, source string) (string, bool) {
	switch {
	case len(b) == 0:
		return "", true
	case string(b) == topic:
		return topic, true
	case string(b) == source:
		return source, true
	case string(b) == DefaultContentType:
		return DefaultContentType, true
	case string(b) == DefaultSchemaVersion:
		return DefaultSchemaVersion, true
	}
	return "", false
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptMessage, fmt.Sprintf(format, args...))
}

// rawMessage is a validated message whose byte fields still point into
// the input.
type rawMessage struct {
	key, value  []byte // nil when encoded as nil
	time, htime time.Time
	ids         [2][16]byte
	texts       [codecTexts][]byte
	ints        [4]int64 // priority, retry_count, max_retries, ttl_seconds
	// stored has bit i set when text i was read from the input (every
	// text of version 1; the stored ones of version 2).
	stored uint16
	topic  string // a framed version 2 record's topic: its not-stored event_type
	// lists are the encoded extra and unparsed lists, count included;
	// listLen counts their headers.
	lists     [2][]byte
	listLen   [2]int
	listBytes [2]int // bytes of the lists' strings
	v2        bool   // lists are in version 2's form
}

// strings calls fn with each string of an encoded header list region.
func (raw *rawMessage) strings(region []byte, fn func([]byte)) {
	if raw.v2 {
		v2Strings(region, fn)
	} else {
		v1Strings(region, fn)
	}
}
