package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"
)

// The stored form of a message, version 1:
//
//	version byte (1)
//	msgpack array of codecFields elements:
//	   0 key              bin, or nil for a nil Key
//	   1 value            bin, or nil for a nil Value
//	   2 timestamp        int seconds since the Unix epoch
//	   3 timestamp        int nanoseconds, 0-999999999
//	   4 correlation_id   bin 16
//	   5 message_id       bin 16
//	   6 headers time     int seconds
//	   7 headers time     int nanoseconds
//	   8-19 source, event_type, content_type, schema_version,
//	        destination, trace_id, span_id, parent_span_id,
//	        operation_name, routing_key, partition_key, traceparent: str
//	  20 priority         int
//	  21 retry_count      int
//	  22 max_retries      int
//	  23 ttl_seconds      int
//	  24 extra            array of str: key, value, key, value, ...
//	  25 unparsed         array of str, as extra
//	CRC-32C (Castagnoli), big-endian, of everything before it (the
//	version byte included)
//
// Evolution: a reader of version 1 skips elements past the ones it knows,
// so a field can be appended without a new version; anything else needs
// a new version byte. Integers and lengths may use any msgpack width on
// input; the writer always uses the smallest.
const (
	codecVersion = 1
	codecFields  = 26
	codecTexts   = 12
)

// msgpack type codes (the values of msgpack/v5/msgpcode, which declares
// them as variables; codec_test.go checks they agree).
const (
	mpPosFixIntMax = 0x7f
	mpNegFixIntMin = 0xe0
	mpFixMap       = 0x80
	mpFixArray     = 0x90
	mpFixStr       = 0xa0
	mpNil          = 0xc0
	mpFalse        = 0xc2
	mpTrue         = 0xc3
	mpBin8         = 0xc4
	mpBin16        = 0xc5
	mpBin32        = 0xc6
	mpExt8         = 0xc7
	mpExt16        = 0xc8
	mpExt32        = 0xc9
	mpFloat        = 0xca
	mpDouble       = 0xcb
	mpUint8        = 0xcc
	mpUint16       = 0xcd
	mpUint32       = 0xce
	mpUint64       = 0xcf
	mpInt8         = 0xd0
	mpInt16        = 0xd1
	mpInt32        = 0xd2
	mpInt64        = 0xd3
	mpFixExt1      = 0xd4
	mpFixExt16     = 0xd8
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
	mpMap16        = 0xde
	mpMap32        = 0xdf
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendMessage appends the stored form of m to dst and returns the
// extended slice: m's Key, Value, Timestamp and Headers (every field,
// Extra and Unparsed included) as msgpack after a version byte, then a
// CRC-32C. Topic, Partition, Offset and ExplicitPartition are not encoded:
// they are positional in the log. Times are kept to the nanosecond but not
// their location or monotonic reading.
//
// AppendMessage does not allocate when dst has room; EncodedLen gives
// the room needed. Keys, values and strings longer than 4 GiB - 1 are not
// representable and must be refused before (core.ErrMessageTooLarge).
func AppendMessage(dst []byte, m *Message) []byte {
	start := len(dst)
	h := &m.Headers
	dst = appendArrayLen(append(dst, codecVersion), codecFields)
	dst = appendBinOrNil(dst, m.Key)
	dst = appendBinOrNil(dst, m.Value)
	dst = appendTime(dst, m.Timestamp)
	dst = appendBin(dst, h.CorrelationID[:])
	dst = appendBin(dst, h.MessageID[:])
	dst = appendTime(dst, h.Timestamp)
	for _, s := range [codecTexts]string{
		h.Source, h.EventType, h.ContentType, h.SchemaVersion,
		h.Destination, h.TraceID, h.SpanID, h.ParentSpanID,
		h.OperationName, h.RoutingKey, h.PartitionKey, h.TraceParent,
	} {
		dst = appendStr(dst, s)
	}
	dst = appendInt(dst, int64(h.Priority))
	dst = appendInt(dst, int64(h.RetryCount))
	dst = appendInt(dst, int64(h.MaxRetries))
	dst = appendInt(dst, int64(h.TTLSeconds))
	dst = appendHeaderList(dst, h.Extra)
	dst = appendHeaderList(dst, h.Unparsed)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// EncodedLen returns len(AppendMessage(nil, m)) without encoding.
func EncodedLen(m *Message) int {
	h := &m.Headers
	n := 1 + arrayLenSize(codecFields) + 4
	n += binOrNilSize(m.Key) + binOrNilSize(m.Value)
	n += timeSize(m.Timestamp) + timeSize(h.Timestamp)
	n += 2 * (2 + 16)
	for _, s := range [codecTexts]string{
		h.Source, h.EventType, h.ContentType, h.SchemaVersion,
		h.Destination, h.TraceID, h.SpanID, h.ParentSpanID,
		h.OperationName, h.RoutingKey, h.PartitionKey, h.TraceParent,
	} {
		n += strSize(len(s))
	}
	n += intSize(int64(h.Priority)) + intSize(int64(h.RetryCount)) + intSize(int64(h.MaxRetries)) + intSize(int64(h.TTLSeconds))
	for _, l := range [2][]Header{h.Extra, h.Unparsed} {
		n += arrayLenSize(2 * len(l))
		for _, x := range l {
			n += strSize(len(x.Key)) + strSize(len(x.Value))
		}
	}
	return n
}

func appendArrayLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, mpFixArray|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
}

func arrayLenSize(n int) int {
	switch {
	case n < 16:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

func appendBinOrNil(dst, b []byte) []byte {
	if b == nil {
		return append(dst, mpNil)
	}
	return appendBin(dst, b)
}

func binOrNilSize(b []byte) int {
	if b == nil {
		return 1
	}
	return binSize(len(b))
}

func appendBin(dst, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpBin16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
	}
	return append(dst, b...)
}

func binSize(n int) int {
	switch {
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, mpFixStr|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func strSize(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= mpPosFixIntMax:
		return append(dst, byte(v))
	case v < 0 && v >= -32:
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, mpUint64), uint64(v))
	case v >= math.MinInt8:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

func intSize(v int64) int {
	switch {
	case v >= -32 && v <= mpPosFixIntMax:
		return 1
	case v >= 0 && v <= math.MaxUint8 || v < 0 && v >= math.MinInt8:
		return 2
	case v >= 0 && v <= math.MaxUint16 || v < 0 && v >= math.MinInt16:
		return 3
	case v >= 0 && v <= math.MaxUint32 || v < 0 && v >= math.MinInt32:
		return 5
	}
	return 9
}

func appendTime(dst []byte, t time.Time) []byte {
	return appendInt(appendInt(dst, t.Unix()), int64(t.Nanosecond()))
}

func timeSize(t time.Time) int { return intSize(t.Unix()) + intSize(int64(t.Nanosecond())) }

func appendHeaderList(dst []byte, l []Header) []byte {
	dst = appendArrayLen(dst, 2*len(l))
	for _, x := range l {
		dst = appendStr(appendStr(dst, x.Key), x.Value)
	}
	return dst
}

// DecodeMessage decodes the stored form made by AppendMessage into m's
// Key, Value, Timestamp and Headers (replacing them; other fields are left
// alone). Times come back in UTC. On error m is unchanged and the error
// wraps ErrCorruptMessage: a bad version byte, a CRC mismatch, malformed
// or truncated msgpack, or trailing bytes. DecodeMessage never panics.
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
	return decodeMessage(b, topic, "", m, true)
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
	return decodeMessage(b, topic, source, m, false)
}

func decodeMessage(b []byte, topic, source string, m *Message, checkCRC bool) error {
	if len(b) < 1+1+4 {
		return corrupt("%d bytes, too short", len(b))
	}
	if b[0] != codecVersion {
		return corrupt("unknown version %d", b[0])
	}
	body := b[:len(b)-4]
	if checkCRC {
		if want, got := binary.BigEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
			return corrupt("CRC-32C is %08x, want %08x", got, want)
		}
	}
	var raw rawMessage
	if err := raw.parse(body[1:]); err != nil {
		return err
	}

	// Allocate once for Key and Value, once for the strings.
	if raw.key != nil || raw.value != nil {
		kv := make([]byte, len(raw.key)+len(raw.value))
		nk := copy(kv, raw.key)
		copy(kv[nk:], raw.value)
		m.Key, m.Value = nil, nil
		if raw.key != nil {
			m.Key = kv[:nk:nk]
		}
		if raw.value != nil {
			m.Value = kv[nk:]
		}
	} else {
		m.Key, m.Value = nil, nil
	}
	// One pass decides which texts are constants (interned) and how many
	// bytes the others need; they then share one allocation.
	var consts [codecTexts]string
	var own [codecTexts]bool
	need := 0
	for i, t := range raw.texts {
		if c, ok := intern(t, topic, source); ok {
			consts[i] = c
		} else {
			own[i] = true
			need += len(t)
		}
	}
	need += raw.listBytes[0] + raw.listBytes[1]
	var all string
	if need > 0 {
		var sb strings.Builder
		sb.Grow(need)
		for i, t := range raw.texts {
			if own[i] {
				sb.Write(t)
			}
		}
		for _, region := range [2][]byte{raw.extra, raw.unparsed} {
			if len(region) == 0 {
				continue
			}
			r := reader{b: region}
			for range r.arrayLen() {
				sb.Write(r.str())
			}
		}
		all = sb.String()
	}
	h := &m.Headers
	*h = Headers{
		CorrelationID: raw.ids[0],
		MessageID:     raw.ids[1],
		Timestamp:     raw.htime,
		Priority:      Priority(raw.ints[0]),
		RetryCount:    int(raw.ints[1]),
		MaxRetries:    int(raw.ints[2]),
		TTLSeconds:    int(raw.ints[3]),
	}
	dsts := [codecTexts]*string{
		&h.Source, &h.EventType, &h.ContentType, &h.SchemaVersion,
		&h.Destination, &h.TraceID, &h.SpanID, &h.ParentSpanID,
		&h.OperationName, &h.RoutingKey, &h.PartitionKey, &h.TraceParent,
	}
	off := 0
	for i, t := range raw.texts {
		if own[i] {
			*dsts[i] = all[off : off+len(t)]
			off += len(t)
		} else {
			*dsts[i] = consts[i]
		}
	}
	var lists [2][]Header
	for li, region := range [2][]byte{raw.extra, raw.unparsed} {
		n := raw.listLen[li]
		if n == 0 {
			continue
		}
		l := make([]Header, n)
		r := reader{b: region}
		r.arrayLen()
		for i := range l {
			k, v := len(r.str()), len(r.str())
			l[i] = Header{Key: all[off : off+k], Value: all[off+k : off+k+v]}
			off += k + v
		}
		lists[li] = l
	}
	h.Extra, h.Unparsed = lists[0], lists[1]
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
	// extra and unparsed are the encoded lists, array header included;
	// listLen counts their headers.
	extra, unparsed []byte
	listLen         [2]int
	listBytes       [2]int // bytes of the lists' strings
}

var errMalformed = errors.New("malformed msgpack")

// parse validates the msgpack array b and records its fields.
func (raw *rawMessage) parse(b []byte) error {
	r := reader{b: b}
	n := r.arrayLen()
	if r.bad {
		return corrupt("message array: %v", errMalformed)
	}
	if n < codecFields {
		return corrupt("%d fields, want at least %d", n, codecFields)
	}
	raw.key = r.binOrNil()
	raw.value = r.binOrNil()
	raw.time = r.time()
	for i := range raw.ids {
		if id := r.bin(); len(id) == 16 {
			copy(raw.ids[i][:], id)
		} else if !r.bad {
			return corrupt("field %d: UUID of %d bytes", 4+i, len(id))
		}
	}
	raw.htime = r.time()
	for i := range raw.texts {
		raw.texts[i] = r.str()
	}
	for i := range raw.ints {
		raw.ints[i] = r.int()
	}
	if r.bad {
		return corrupt("%v at byte %d", errMalformed, 1+r.i)
	}
	if p := raw.ints[0]; p < 0 || p > math.MaxUint8 {
		return corrupt("priority %d out of range", p)
	}
	for _, v := range raw.ints[1:] {
		if v < math.MinInt || v > math.MaxInt {
			return corrupt("count %d out of range", v)
		}
	}
	for li, dst := range [2]*[]byte{&raw.extra, &raw.unparsed} {
		start := r.i
		l := r.arrayLen()
		if l%2 != 0 {
			return corrupt("header list of odd length %d", l)
		}
		for range l {
			raw.listBytes[li] += len(r.str())
		}
		if r.bad {
			return corrupt("%v at byte %d", errMalformed, 1+r.i)
		}
		*dst = r.b[start:r.i]
		raw.listLen[li] = l / 2
	}
	for range n - codecFields {
		r.skip(0)
	}
	if r.bad {
		return corrupt("%v at byte %d", errMalformed, 1+r.i)
	}
	if r.i != len(r.b) {
		return corrupt("%d trailing bytes", len(r.b)-r.i)
	}
	return nil
}

// reader reads msgpack from b. The first error sets bad; after it every
// read returns a zero value, so a sequence of reads is checked once.
type reader struct {
	b   []byte
	i   int
	bad bool
}

// next returns the next n bytes.
func (r *reader) next(n int) []byte {
	if r.bad || n < 0 || n > len(r.b)-r.i {
		r.bad = true
		return nil
	}
	s := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s
}

func (r *reader) byte() byte {
	if s := r.next(1); s != nil {
		return s[0]
	}
	return 0
}

// length reads a big-endian length of w bytes.
func (r *reader) length(w int) int {
	s := r.next(w)
	switch {
	case s == nil:
		return 0
	case w == 1:
		return int(s[0])
	case w == 2:
		return int(binary.BigEndian.Uint16(s))
	}
	return int(binary.BigEndian.Uint32(s))
}

// arrayLen reads an array header. The length is checked against the bytes
// left (every element takes at least one), so it is safe to allocate by.
func (r *reader) arrayLen() int {
	c := r.byte()
	n := 0
	switch {
	case c&0xf0 == mpFixArray:
		n = int(c & 0x0f)
	case c == mpArray16:
		n = r.length(2)
	case c == mpArray32:
		n = r.length(4)
	default:
		r.bad = true
	}
	if n > len(r.b)-r.i {
		r.bad = true
	}
	if r.bad {
		return 0
	}
	return n
}

func (r *reader) str() []byte {
	c := r.byte()
	switch {
	case c&0xe0 == mpFixStr:
		return r.next(int(c & 0x1f))
	case c == mpStr8:
		return r.next(r.length(1))
	case c == mpStr16:
		return r.next(r.length(2))
	case c == mpStr32:
		return r.next(r.length(4))
	}
	r.bad = true
	return nil
}

func (r *reader) bin() []byte {
	switch r.byte() {
	case mpBin8:
		return r.next(r.length(1))
	case mpBin16:
		return r.next(r.length(2))
	case mpBin32:
		return r.next(r.length(4))
	}
	r.bad = true
	return nil
}

// binOrNil returns nil for msgpack nil and a non-nil slice for any bin.
func (r *reader) binOrNil() []byte {
	if !r.bad && r.i < len(r.b) && r.b[r.i] == mpNil {
		r.i++
		return nil
	}
	b := r.bin()
	if b == nil && !r.bad {
		b = r.b[r.i:r.i:r.i]
	}
	return b
}

func (r *reader) int() int64 {
	c := r.byte()
	switch {
	case r.bad:
		return 0
	case c <= mpPosFixIntMax:
		return int64(c)
	case c >= mpNegFixIntMin:
		return int64(int8(c))
	}
	var s []byte
	switch c {
	case mpUint8, mpInt8:
		s = r.next(1)
	case mpUint16, mpInt16:
		s = r.next(2)
	case mpUint32, mpInt32:
		s = r.next(4)
	case mpUint64, mpInt64:
		s = r.next(8)
	default:
		r.bad = true
	}
	if r.bad {
		return 0
	}
	switch c {
	case mpUint8:
		return int64(s[0])
	case mpInt8:
		return int64(int8(s[0]))
	case mpUint16:
		return int64(binary.BigEndian.Uint16(s))
	case mpInt16:
		return int64(int16(binary.BigEndian.Uint16(s)))
	case mpUint32:
		return int64(binary.BigEndian.Uint32(s))
	case mpInt32:
		return int64(int32(binary.BigEndian.Uint32(s)))
	case mpInt64:
		return int64(binary.BigEndian.Uint64(s))
	}
	u := binary.BigEndian.Uint64(s)
	if u > math.MaxInt64 {
		r.bad = true
		return 0
	}
	return int64(u)
}

// time reads seconds and nanoseconds; the result is in UTC.
func (r *reader) time() time.Time {
	sec, nsec := r.int(), r.int()
	if r.bad {
		return time.Time{}
	}
	if nsec < 0 || nsec > 999_999_999 {
		r.bad = true
		return time.Time{}
	}
	return time.Unix(sec, nsec).UTC()
}

// skip skips one msgpack value of any type, for fields added by a later
// writer. depth bounds the nesting.
func (r *reader) skip(depth int) {
	if depth > 32 {
		r.bad = true
		return
	}
	c := r.byte()
	if r.bad {
		return
	}
	n := 0
	switch {
	case c <= mpPosFixIntMax, c >= mpNegFixIntMin, c == mpNil, c == mpFalse, c == mpTrue:
		return
	case c&0xf0 == mpFixMap:
		n = 2 * int(c&0x0f)
	case c&0xf0 == mpFixArray:
		n = int(c & 0x0f)
	case c&0xe0 == mpFixStr:
		r.next(int(c & 0x1f))
		return
	}
	switch c {
	case mpBin8, mpStr8:
		r.next(r.length(1))
	case mpBin16, mpStr16:
		r.next(r.length(2))
	case mpBin32, mpStr32:
		r.next(r.length(4))
	case mpUint8, mpInt8:
		r.next(1)
	case mpUint16, mpInt16:
		r.next(2)
	case mpUint32, mpInt32, mpFloat:
		r.next(4)
	case mpUint64, mpInt64, mpDouble:
		r.next(8)
	case mpExt8:
		r.next(1 + r.length(1))
	case mpExt16:
		r.next(1 + r.length(2))
	case mpExt32:
		r.next(1 + r.length(4))
	case mpArray16:
		n = r.length(2)
	case mpArray32:
		n = r.length(4)
	case mpMap16:
		n = 2 * r.length(2)
	case mpMap32:
		n = 2 * r.length(4)
	default:
		switch {
		case c >= mpFixExt1 && c <= mpFixExt16:
			r.next(1 + 1<<(c-mpFixExt1))
		case c&0xf0 == mpFixMap || c&0xf0 == mpFixArray:
			// n set above
		default:
			r.bad = true // 0xc1, never used
		}
	}
	if n > len(r.b)-r.i {
		r.bad = true
	}
	for ; n > 0 && !r.bad; n-- {
		r.skip(depth + 1)
	}
}
