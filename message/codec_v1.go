package message

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// The stored form of a message, version 1 (written until 325778d; read
// for the logs it wrote, never written now):
//
//	version byte (1)
//	msgpack array of v1Fields elements:
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
// A reader of version 1 skips elements past the ones it knows (a writer
// could append fields without a new version). Integers and lengths may
// use any msgpack width. internal/testutil/codecv1 keeps the encoder, for
// tests that write version 1 logs.
const (
	codecV1  = 1
	v1Fields = 26
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

var errMalformed = errors.New("malformed msgpack")

// parseV1 validates the msgpack array b (a version 1 body, after the
// version byte and without the CRC) and records its fields.
func (raw *rawMessage) parseV1(b []byte) error {
	r := reader{b: b}
	n := r.arrayLen()
	if r.bad {
		return corrupt("message array: %v", errMalformed)
	}
	if n < v1Fields {
		return corrupt("%d fields, want at least %d", n, v1Fields)
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
	raw.stored = 1<<codecTexts - 1
	for i := range raw.ints {
		raw.ints[i] = r.int()
	}
	if r.bad {
		return corrupt("%v at byte %d", errMalformed, 1+r.i)
	}
	if err := raw.checkInts(); err != nil {
		return err
	}
	for li := range raw.lists {
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
		raw.lists[li] = r.b[start:r.i]
		raw.listLen[li] = l / 2
	}
	for range n - v1Fields {
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

// v1Strings calls fn with each string of a version 1 header list region
// that parseV1 validated.
func v1Strings(region []byte, fn func([]byte)) {
	r := reader{b: region}
	for range r.arrayLen() {
		fn(r.str())
	}
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
