package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// A chunk is the value stored under the key of its first offset: a version
// byte followed by frames, one per record, with consecutive offsets.
//
// frame: len u32 | crc u32 | timestamp i64 | message id [16] | correlation id [16] | payload
//
// len counts the bytes after the crc; crc is CRC-32C of those bytes.
const (
	chunkVersion    = 1
	frameHeaderSize = 8
	frameFixedSize  = 8 + 16 + 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends rec's frame to dst.
func appendFrame(dst []byte, rec *Record) []byte {
	n := frameFixedSize + len(rec.Payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rec.Timestamp))
	dst = append(dst, rec.MessageID[:]...)
	dst = append(dst, rec.CorrelationID[:]...)
	dst = append(dst, rec.Payload...)
	crc := crc32.Checksum(dst[start+frameHeaderSize:], castagnoli)
	binary.BigEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// frameView is a decoded frame whose slices alias the buffer it came from.
type frameView struct {
	Timestamp     int64
	MessageID     [16]byte
	CorrelationID [16]byte
	Payload       []byte
}

// parseFrame reads the frame at the start of b. It returns the frame, the
// bytes it took and a non-empty reason when the frame is damaged.
func parseFrame(b []byte) (f frameView, size int, reason string) {
	return parseFrameCRC(b, true)
}

// parseFrameCRC is parseFrame, checking the CRC only if verify: frames
// still in the tail were written by Append in this process and are not
// re-checked on their way to the store.
func parseFrameCRC(b []byte, verify bool) (f frameView, size int, reason string) {
	if len(b) < frameHeaderSize+frameFixedSize {
		return f, 0, "truncated frame header"
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < frameFixedSize || n > len(b)-frameHeaderSize {
		return f, 0, "frame length out of range"
	}
	body := b[frameHeaderSize : frameHeaderSize+n]
	if verify && crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return f, 0, "CRC mismatch"
	}
	f.Timestamp = int64(binary.BigEndian.Uint64(body))
	copy(f.MessageID[:], body[8:24])
	copy(f.CorrelationID[:], body[24:40])
	f.Payload = body[frameFixedSize:]
	return f, frameHeaderSize + n, ""
}

// chunkMeta is the index entry of a chunk, stored under the same key in the
// partition's index bucket: what retention, time lookups and correlation
// queries need without reading the chunk.
//
// value: count u32 | bytes u32 | minTs i64 | maxTs i64 | bloom
type chunkMeta struct {
	Count int64
	Bytes int64
	MinTs int64
	MaxTs int64
	Bloom []byte
}

const chunkMetaFixed = 4 + 4 + 8 + 8

func (m *chunkMeta) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Count))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Bytes))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.MinTs))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.MaxTs))
	return append(dst, m.Bloom...)
}

func parseChunkMeta(b []byte) (chunkMeta, bool) {
	if len(b) < chunkMetaFixed {
		return chunkMeta{}, false
	}
	return chunkMeta{
		Count: int64(binary.BigEndian.Uint32(b)),
		Bytes: int64(binary.BigEndian.Uint32(b[4:])),
		MinTs: int64(binary.BigEndian.Uint64(b[8:])),
		MaxTs: int64(binary.BigEndian.Uint64(b[16:])),
		Bloom: b[chunkMetaFixed:],
	}, true
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

func keyOffset(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }
