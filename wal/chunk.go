package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Chunks and index entries (log format 2).
//
// A chunk is the value stored under the key of its first offset (u64
// big-endian) in a partition's data bucket. Its first byte is its version:
//
//	version 3 (FormatFrames): 0x03 | first offset u64 | frame | frame | ...
//	version 2 (FormatKafka):  0x02 | batch | batch | ...
//
// A version-2 chunk's bytes from the second on are a valid Kafka Fetch
// record set: whole v2 record batches back to back, never split, with
// consecutive base offsets. Both versions carry their first offset inside
// the value (the frames header, the first batch's BaseOffset), and every
// read checks it against the key: a flipped bit in either is reported,
// never read as records at other offsets. Frames carry their own CRC-32C;
// a batch carries Kafka's CRC-32C over attributes..end, checked on every
// read.
//
// Log format 1 (before chunk versions) wrote frames with no version byte
// and index entries without a checksum; Open refuses such a store with
// ErrFormatVersion naming format 1 (see recover.go).
const (
	chunkKafka  = 2
	chunkFrames = 3

	// framesHeader is the version byte and first offset of a frames chunk.
	framesHeader = 1 + 8
	// kafkaHeader is the version byte of a Kafka chunk.
	kafkaHeader = 1
)

// logFormat is the version of the whole store layout, kept under
// formatKey in the meta bucket.
const logFormat = 2

var formatKey = []byte("format")

// chunkVersionFor returns the chunk version a topic format writes.
func chunkVersionFor(f Format) byte {
	if f == FormatKafka {
		return chunkKafka
	}
	return chunkFrames
}

// chunkHeaderLen returns the bytes before the first record of a chunk of f.
func chunkHeaderLen(f Format) int {
	if f == FormatKafka {
		return kafkaHeader
	}
	return framesHeader
}

// appendChunkHeader starts a chunk of format f whose first offset is first.
func appendChunkHeader(dst []byte, f Format, first int64) []byte {
	if f == FormatKafka {
		return append(dst, chunkKafka)
	}
	dst = append(dst, chunkFrames)
	return binary.BigEndian.AppendUint64(dst, uint64(first))
}

// checkChunkHeader checks a stored chunk's version against its topic's
// format and, for frames, its first offset against the key. It returns
// the records' bytes, or a reason for a CorruptError.
func checkChunkHeader(v []byte, f Format, key int64) ([]byte, string) {
	if len(v) == 0 {
		return nil, "empty chunk"
	}
	want := chunkVersionFor(f)
	if v[0] != want {
		switch v[0] {
		case chunkKafka, chunkFrames:
			return nil, fmt.Sprintf("chunk version %d in a %s topic (expects version %d)", v[0], f, want)
		}
		return nil, fmt.Sprintf("%v: chunk version %d", ErrFormatVersion, v[0])
	}
	if f == FormatKafka {
		return v[kafkaHeader:], ""
	}
	if len(v) < framesHeader {
		return nil, "truncated chunk header"
	}
	if got := int64(binary.BigEndian.Uint64(v[1:])); got != key {
		return nil, fmt.Sprintf("chunk key says offset %d, its header says %d", key, got)
	}
	return v[framesHeader:], ""
}

// chunkFirstOffset checks that a stored chunk's own first offset (frames
// header, first batch's base offset) is key, and returns its records.
func chunkFirstOffset(v []byte, f Format, key int64) ([]byte, string) {
	body, reason := checkChunkHeader(v, f, key)
	if reason != "" || f != FormatKafka {
		return body, reason
	}
	if len(body) < 8 {
		return nil, "chunk without a whole batch"
	}
	if got := int64(binary.BigEndian.Uint64(body)); got != key {
		return nil, fmt.Sprintf("chunk key says offset %d, its first batch says %d", key, got)
	}
	return body, ""
}

// chunkMeta is the index entry of a chunk, stored under the same key in the
// partition's index bucket: what retention, time lookups and correlation
// queries need without reading the chunk.
//
// value: count u32 | bytes u32 | minTs i64 | maxTs i64 | bloom | crc u32
//
// Count is the chunk's offset span (for Kafka chunks, the sum of each
// batch's LastOffsetDelta+1). MinTs and MaxTs are the smallest and largest
// record timestamps in Unix nanoseconds (Kafka's milliseconds saturated to
// the int64 range, see msToNanos), whatever the records' order. crc is
// CRC-32C of the key followed by the bytes before it, so a flipped bit in
// the entry, or in its key, is detected.
type chunkMeta struct {
	Count int64
	Bytes int64
	MinTs int64
	MaxTs int64
	Bloom []byte
}

const (
	chunkMetaFixed = 4 + 4 + 8 + 8
	chunkMetaCRC   = 4
)

func (m *chunkMeta) appendTo(dst []byte, key []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Count))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Bytes))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.MinTs))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.MaxTs))
	dst = append(dst, m.Bloom...)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, dst[start:])
	return binary.BigEndian.AppendUint32(dst, crc)
}

// parseChunkMeta decodes the index entry b stored under key. A non-empty
// reason says why it is damaged.
func parseChunkMeta(key, b []byte) (chunkMeta, string) {
	if len(key) != 8 {
		return chunkMeta{}, fmt.Sprintf("index key of %d bytes", len(key))
	}
	if len(b) < chunkMetaFixed+chunkMetaCRC {
		return chunkMeta{}, "index entry too short"
	}
	body := b[:len(b)-chunkMetaCRC]
	want := binary.BigEndian.Uint32(b[len(body):])
	if crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body) != want {
		return chunkMeta{}, "index entry checksum mismatch"
	}
	m := chunkMeta{
		Count: int64(binary.BigEndian.Uint32(b)),
		Bytes: int64(binary.BigEndian.Uint32(b[4:])),
		MinTs: int64(binary.BigEndian.Uint64(b[8:])),
		MaxTs: int64(binary.BigEndian.Uint64(b[16:])),
		Bloom: body[chunkMetaFixed:],
	}
	if m.Count < 1 {
		return chunkMeta{}, "index entry counts no records"
	}
	return m, ""
}

// msToNanos converts a Kafka timestamp (Unix milliseconds) to Unix
// nanoseconds, saturating at the int64 range instead of overflowing, so
// comparisons keep their order.
func msToNanos(ms int64) int64 {
	const limit = math.MaxInt64 / 1_000_000
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return ms * 1e6
}

// bloomSize returns the filter size in bytes for n records: about 10 bits
// a record (1% false positives with 4 probes), a power of two, 8 to 128.
func bloomSize(n int) int {
	size := 8
	for size < 128 && size*8 < n*10 {
		size *= 2
	}
	return size
}

// bloomProbes yields the 4 bit positions of id in a filter of bits bits.
// The ids are random UUIDs, so their own bytes serve as hashes.
func bloomProbes(id *[16]byte, bits uint32, fn func(bit uint32)) {
	for i := 0; i < 4; i++ {
		fn(binary.BigEndian.Uint32(id[i*4:]) % bits)
	}
}

func bloomAdd(bloom []byte, id *[16]byte) {
	bloomProbes(id, uint32(len(bloom)*8), func(bit uint32) { bloom[bit/8] |= 1 << (bit % 8) })
}

// bloomMayContain reports whether id may be in the filter. An empty filter
// (Kafka chunks keep none) may contain anything.
func bloomMayContain(bloom []byte, id *[16]byte) bool {
	if len(bloom) == 0 {
		return true
	}
	ok := true
	bloomProbes(id, uint32(len(bloom)*8), func(bit uint32) {
		if bloom[bit/8]&(1<<(bit%8)) == 0 {
			ok = false
		}
	})
	return ok
}

func offsetKey(off int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(off))
}

// keyOffset decodes a chunk key; a key of another length (damage) reads as
// -1, which no chunk has.
func keyOffset(k []byte) int64 {
	if len(k) != 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(k))
}

// frameSkippable reports whether a reader can step over the damaged frame
// at the start of b: its length word is in range, and the frame after it
// is whole with a good CRC, or the chunk ends there. The reader then
// resumes at the next offset rather than at the next chunk, so a flipped
// bit in one record of a full chunk (chunks fill across commits,
// extend.go) costs that record, not the rest of the chunk. A damaged
// length word fails the check: the frames after it cannot be told apart.
func frameSkippable(b []byte) bool {
	if len(b) < frameHeaderSize+frameFixedSize {
		return false
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < frameFixedSize || n > len(b)-frameHeaderSize {
		return false
	}
	rest := b[frameHeaderSize+n:]
	if len(rest) == 0 {
		return true
	}
	_, _, reason := parseFrame(rest)
	return reason == ""
}
