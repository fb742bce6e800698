package dlq

import (
	"encoding/binary"
	"hash/crc32"
)

// Internals the external tests reach.
var (
	EncodeLetter  = encodeLetter
	DecodeLetter  = decodeLetter
	BucketLetters = bucketLetters
	BucketMeta    = bucketMeta
	BucketOrigins = bucketOrigins
	OriginKey     = originKey
)

// SealBody returns body as a stored value with a valid version and CRC,
// so fuzzing reaches the msgpack decoder instead of the checksum.
func SealBody(body []byte) []byte {
	v := make([]byte, headerLen, headerLen+len(body))
	v[0] = formatVersion
	binary.BigEndian.PutUint32(v[1:], crc32.Checksum(body, castagnoli))
	return append(v, body...)
}
