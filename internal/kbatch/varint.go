package kbatch

// Kafka's varints are zigzag-encoded base-128 integers: at most 5 bytes for
// an int32 and 10 for an int64. Longer encodings, or a last byte with bits
// beyond the type's width, are refused (Kafka's ByteUtils does the same),
// so every value has one accepted encoding of bounded size.

// readVarint32 decodes a varint from b. n > 0 is the bytes read; n == 0
// means b ended first; n < 0 means the encoding is too long or overflows.
func readVarint32(b []byte) (v int32, n int) {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, -1
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(x>>1) ^ -int32(x&1), i + 1
		}
	}
	return 0, -1
}

// readVarint64 decodes a varlong from b, with the n of readVarint32.
func readVarint64(b []byte) (v int64, n int) {
	var x uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 9 && c > 0x01 {
			return 0, -1
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
	}
	return 0, -1
}

// appendVarint32 appends v as a zigzag varint.
func appendVarint32(b []byte, v int32) []byte {
	x := uint32(v<<1) ^ uint32(v>>31)
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// appendVarint64 appends v as a zigzag varlong.
func appendVarint64(b []byte, v int64) []byte {
	x := uint64(v<<1) ^ uint64(v>>63)
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// varint32Len returns the encoded size of v.
func varint32Len(v int32) int {
	x := uint32(v<<1) ^ uint32(v>>31)
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// varint64Len returns the encoded size of v.
func varint64Len(v int64) int {
	x := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
