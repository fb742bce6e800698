package message

// Murmur2 is Kafka's 32-bit murmur2 hash, bit for bit like the Java
// client's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c).
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KafkaPartition returns the partition Kafka's default partitioner (and
// franz-go's kgo.StickyKeyPartitioner with a key) picks for key among
// partitions: (murmur2(key) & 0x7fffffff) % partitions. A nil key hashes
// like an empty one; Kafka spreads keyless records instead, which is the
// caller's choice. It returns 0 when partitions < 1.
func KafkaPartition(key []byte, partitions int32) int32 {
	if partitions < 1 {
		return 0
	}
	return (Murmur2(key) & 0x7fffffff) % partitions
}
