package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// A frame is one record of a FormatFrames topic (see chunk.go for the
// chunk that holds frames):
//
// frame: len u32 | crc u32 | timestamp i64 | message id [16] | correlation id [16] | payload
//
// len counts the bytes after the crc; crc is CRC-32C of those bytes.
const (
	frameHeaderSize = 8
	frameFixedSize  = 8 + 16 + 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends rec's frame to dst, its CRC included.
func appendFrame(dst []byte, rec *Record) []byte {
	start := len(dst)
	dst = appendUnsealedFrame(dst, rec)
	sealFrame(dst[start:])
	return dst
}

// appendUnsealedFrame appends rec's frame to dst with its CRC left zero.
// The tail's frames are written so: the committer seals them
// (sealFrames) after it takes them and before they reach the store, so
// that the CRC is computed on the committer's goroutine rather than the
// appender's (a PublishAsync caller's goroutine is the bottleneck of an
// async publisher; the committer waits on the disk). A frame in the tail
// is read by no one before it is sealed but readers that skip its CRC:
// readTail does not check it (the log wrote the frame in this process),
// under PolicySync readers see no tail at all, and the store holds only
// sealed frames.
func appendUnsealedFrame(dst []byte, rec *Record) []byte {
	n := frameFixedSize + len(rec.Payload)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rec.Timestamp))
	dst = append(dst, rec.MessageID[:]...)
	dst = append(dst, rec.CorrelationID[:]...)
	return append(dst, rec.Payload...)
}

// sealFrame writes the CRC of the frame at the start of b and returns the
// frame's size, or 0 if b does not start with a whole frame.
func sealFrame(b []byte) int {
	if len(b) < frameHeaderSize+frameFixedSize {
		return 0
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < frameFixedSize || n > len(b)-frameHeaderSize {
		return 0
	}
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[frameHeaderSize:frameHeaderSize+n], castagnoli))
	return frameHeaderSize + n
}

// sealFrames seals every frame of b, the records of a frames chunk the
// committer took from a tail (their bytes change no more: the chunk is
// sealed against appends). Sealing a frame again writes the same CRC (a
// chunk a failed commit left queued is taken again). A damaged length
// stops it; chunkMetaOf then reports the chunk.
func sealFrames(b []byte) {
	for len(b) > 0 {
		n := sealFrame(b)
		if n == 0 {
			return
		}
		b = b[n:]
	}
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

// frameLen returns the size of the frame at the start of b from its length
// word alone, for readers that skip it, and a non-empty reason when that
// length cannot be a frame of b.
func frameLen(b []byte) (int, string) {
	if len(b) < frameHeaderSize+frameFixedSize {
		return 0, "truncated frame header"
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < frameFixedSize || n > len(b)-frameHeaderSize {
		return 0, "frame length out of range"
	}
	return frameHeaderSize + n, ""
}

// parseFrameCRC is parseFrame, checking the CRC only if verify: frames
// still in the tail were written by Append in this process, and frames of
// a store.Volatile store never rested anywhere they could be damaged.
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
