package dlq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// A stored letter is
//
//	version (1 byte) | CRC-32C of body (4 bytes, big endian) | body
//
// where the body (version 1) is a msgpack array of the letter's fields in
// this order: topic, partition, offset, key, value, headers (an array of
// key, value, key, value...), group, attempts, error, first failure, last
// failure, dead-lettered at (times as Unix nanoseconds, 0 for the zero
// time), DLQ topic. The id is the key, not part of the value. bbolt
// checksums only its meta pages, so the CRC is what catches a damaged
// letter before msgpack tries to make sense of it.
const (
	formatVersion = 1
	headerLen     = 1 + 4
	bodyFields    = 13
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeLetter returns l's stored form (l.ID is not part of it).
func encodeLetter(l *Letter) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(headerLen + 64 + len(l.Topic) + len(l.Key) + len(l.Value) + len(l.Error) + len(l.Group) + len(l.DLQTopic))
	buf.Write(make([]byte, headerLen))
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	err := errors.Join(
		enc.EncodeArrayLen(bodyFields),
		enc.EncodeString(l.Topic),
		enc.EncodeInt(int64(l.Partition)),
		enc.EncodeInt(l.Offset),
		enc.EncodeBytes(l.Key),
		enc.EncodeBytes(l.Value),
		encodeHeaders(enc, l.Headers),
		enc.EncodeString(l.Group),
		enc.EncodeInt(int64(l.Attempts)),
		enc.EncodeString(l.Error),
		enc.EncodeInt(unixNano(l.FirstFailure)),
		enc.EncodeInt(unixNano(l.LastFailure)),
		enc.EncodeInt(unixNano(l.DeadLetteredAt)),
		enc.EncodeString(l.DLQTopic),
	)
	if err != nil {
		return nil, fmt.Errorf("dlq: encode letter: %w", err)
	}
	b := buf.Bytes()
	b[0] = formatVersion
	binary.BigEndian.PutUint32(b[1:], crc32.Checksum(b[headerLen:], castagnoli))
	return b, nil
}

func encodeHeaders(enc *msgpack.Encoder, hs []Header) error {
	if hs == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeArrayLen(2 * len(hs)); err != nil {
		return err
	}
	for _, h := range hs {
		if err := enc.EncodeString(h.Key); err != nil {
			return err
		}
		if err := enc.EncodeString(h.Value); err != nil {
			return err
		}
	}
	return nil
}

// unixNano is t in Unix nanoseconds, 0 for the zero time. Times outside
// the years 1678 to 2262 do not survive (time.Time.UnixNano), and the
// Unix epoch itself comes back as the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// decodeLetter decodes the stored value v of letter id. Every failure is a
// *CorruptError (or wraps ErrUnsupportedVersion); it never panics, and
// never allocates more than about len(v) for the letter's slices. The
// result shares no memory with v, so v may be a store's transient slice.
func decodeLetter(id uint64, v []byte) (Letter, error) {
	if len(v) < headerLen {
		return Letter{}, &CorruptError{ID: id, Reason: fmt.Sprintf("value of %d bytes is shorter than its %d-byte header", len(v), headerLen)}
	}
	if v[0] != formatVersion {
		if v[0] > formatVersion {
			return Letter{}, fmt.Errorf("dlq: letter %d has format version %d, this build reads %d: %w", id, v[0], formatVersion, ErrUnsupportedVersion)
		}
		return Letter{}, &CorruptError{ID: id, Reason: fmt.Sprintf("format version %d is invalid", v[0])}
	}
	body := v[headerLen:]
	if want, got := binary.BigEndian.Uint32(v[1:]), crc32.Checksum(body, castagnoli); want != got {
		return Letter{}, &CorruptError{ID: id, Reason: fmt.Sprintf("checksum %08x, stored %08x", got, want)}
	}
	l, err := decodeBody(body)
	if err != nil {
		return Letter{}, &CorruptError{ID: id, Reason: err.Error()}
	}
	l.ID = id
	return l, nil
}

// decodeBody decodes a version-1 body whose checksum has been checked.
func decodeBody(body []byte) (l Letter, err error) {
	// The msgpack decoder is not ours; a panic in it on input that passed
	// the CRC (a bug, or data written by a bug) must not escape.
	defer func() {
		if r := recover(); r != nil {
			l, err = Letter{}, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	r := bytes.NewReader(body)
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	// A reader that is an io.ByteScanner is used without buffering, so
	// raw reads from r below stay in step with d.
	d.Reset(r)
	br := bodyReader{r: r, d: d}

	n, err := d.DecodeArrayLen()
	if err != nil {
		return Letter{}, fmt.Errorf("fields: %w", err)
	}
	if n != bodyFields {
		return Letter{}, fmt.Errorf("%d fields, want %d", n, bodyFields)
	}
	l.Topic = br.str("topic")
	l.Partition = int32(br.int("partition", 0, 1<<31-1))
	l.Offset = br.int("offset", -1<<63, 1<<63-1)
	l.Key = br.bytes("key")
	l.Value = br.bytes("value")
	l.Headers = br.headers()
	l.Group = br.str("group")
	l.Attempts = int(br.int("attempts", 0, 1<<31-1))
	l.Error = br.str("error")
	l.FirstFailure = fromUnixNano(br.int("first failure", -1<<63, 1<<63-1))
	l.LastFailure = fromUnixNano(br.int("last failure", -1<<63, 1<<63-1))
	l.DeadLetteredAt = fromUnixNano(br.int("dead-lettered at", -1<<63, 1<<63-1))
	l.DLQTopic = br.str("dlq topic")
	if br.err != nil {
		return Letter{}, br.err
	}
	if r.Len() != 0 {
		return Letter{}, fmt.Errorf("%d bytes after the last field", r.Len())
	}
	return l, nil
}

// bodyReader reads fields and keeps the first error, so decodeBody reads
// as a list of fields.
type bodyReader struct {
	r   *bytes.Reader
	d   *msgpack.Decoder
	err error
}

func (b *bodyReader) fail(what string, err error) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %w", what, err)
	}
}

// bytes reads a msgpack bin or str (nil stays nil). It checks the length
// against what is left before allocating, which msgpack's own DecodeBytes
// does not: a damaged length could otherwise ask for 4 GiB.
func (b *bodyReader) bytes(what string) []byte {
	if b.err != nil {
		return nil
	}
	n, err := b.d.DecodeBytesLen()
	if err != nil {
		b.fail(what, err)
		return nil
	}
	if n < 0 {
		return nil
	}
	if n > b.r.Len() {
		b.fail(what, fmt.Errorf("length %d past the end (%d bytes left)", n, b.r.Len()))
		return nil
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(b.r, p); err != nil {
		b.fail(what, err)
		return nil
	}
	return p
}

func (b *bodyReader) str(what string) string { return string(b.bytes(what)) }

func (b *bodyReader) int(what string, lo, hi int64) int64 {
	if b.err != nil {
		return 0
	}
	v, err := b.d.DecodeInt64()
	if err != nil {
		b.fail(what, err)
		return 0
	}
	if v < lo || v > hi {
		b.fail(what, fmt.Errorf("%d not in [%d, %d]", v, lo, hi))
		return 0
	}
	return v
}

func (b *bodyReader) headers() []Header {
	if b.err != nil {
		return nil
	}
	n, err := b.d.DecodeArrayLen()
	if err != nil {
		b.fail("headers", err)
		return nil
	}
	if n < 0 {
		return nil
	}
	// Each string takes at least one byte, which bounds the allocation.
	if n%2 != 0 || n > b.r.Len() {
		b.fail("headers", fmt.Errorf("%d strings, want an even number of at most %d", n, b.r.Len()))
		return nil
	}
	hs := make([]Header, n/2)
	for i := range hs {
		hs[i].Key = b.str("header key")
		hs[i].Value = b.str("header value")
	}
	if b.err != nil {
		return nil
	}
	return hs
}
