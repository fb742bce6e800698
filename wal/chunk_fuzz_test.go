package wal

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// FuzzChunkMeta: index entries of any shape, under keys of any shape, never
// panic the parser; an entry that parses re-encodes to the same bytes, and
// a single flipped bit in the entry or its key is always refused.
func FuzzChunkMeta(f *testing.F) {
	m := chunkMeta{Count: 3, Bytes: 100, MinTs: 1, MaxTs: 2, Bloom: make([]byte, 8)}
	key := offsetKey(40)
	f.Add(key, m.appendTo(nil, key), uint16(3))
	f.Add([]byte{1}, []byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, key, b []byte, flip uint16) {
		meta, reason := parseChunkMeta(key, b)
		if reason != "" {
			return
		}
		if !bytes.Equal(meta.appendTo(nil, key), b) {
			t.Fatal("round trip differs")
		}
		var id [16]byte
		copy(id[:], b)
		bloomMayContain(meta.Bloom, &id)
		// One flipped bit anywhere in key || entry is detected.
		all := append(bytes.Clone(key), b...)
		bit := int(flip) % (len(all) * 8)
		all[bit/8] ^= 1 << (bit % 8)
		if _, reason := parseChunkMeta(all[:len(key)], all[len(key):]); reason == "" {
			t.Fatalf("flip of bit %d passed", bit)
		}
	})
}

// fuzzBatch builds a small batch for the seeds.
func fuzzBatch(f *testing.F, codec kbatch.Codec, base int64, n int) []byte {
	b := kbatch.NewBuilder(codec)
	for i := range n {
		if err := b.Add(int64(1000+i), []byte{byte(i)}, []byte("value"), []kbatch.RecordHeader{{Key: []byte("h"), Value: []byte{1}}}); err != nil {
			f.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		f.Fatal(err)
	}
	kbatch.SetBaseOffset(out, base)
	return out
}

// FuzzKafkaChunk: any bytes stored as a Kafka chunk under any key never
// panic a read, a fetch or the index rebuild; what they return is
// consistent: record offsets strictly increase inside [key, next), and the
// batches a fetch returns pass their CRC and re-parse.
func FuzzKafkaChunk(f *testing.F) {
	c := []byte{chunkKafka}
	c = append(c, fuzzBatch(f, kbatch.CodecNone, 7, 3)...)
	c = append(c, fuzzBatch(f, kbatch.CodecSnappy, 10, 2)...)
	f.Add(uint64(7), c, int64(8), uint16(100))
	f.Add(uint64(0), []byte{chunkKafka}, int64(0), uint16(0))
	f.Add(uint64(1), []byte{chunkFrames, 0, 0, 0, 0, 0, 0, 0, 1}, int64(0), uint16(1))
	p := newPartition("t", 0, FormatKafka)
	f.Fuzz(func(t *testing.T, key uint64, v []byte, from int64, budget uint16) {
		first := int64(key >> 1) // keep offsets non-negative
		body, reason := checkChunkHeader(v, FormatKafka, first)
		if reason != "" {
			return
		}
		last := int64(-1)
		var scratch []byte
		end := first + 1<<20
		next, _, _ := readKafkaRecords(p, body, first, from, end, 1<<20, func(e *Entry) error {
			if e.Offset <= last || e.Offset < from || e.Offset < first {
				t.Fatalf("offset %d after %d (from %d, first %d)", e.Offset, last, from, first)
			}
			last = e.Offset
			var rec kbatch.Record
			if _, err := kbatch.ReadRecord(e.Payload, &rec); err != nil {
				t.Fatalf("payload of %d does not parse: %v", e.Offset, err)
			}
			return nil
		}, &scratch, true)
		if next < from && last >= 0 {
			t.Fatalf("next %d below from %d after records", next, from)
		}
		fill := batchFill{maxBytes: int(budget), next: from, end: end}
		_, _ = fill.add(p, body, first)
		for b := fill.dst; len(b) > 0; {
			n, err := kbatch.BatchLen(b)
			if err != nil {
				t.Fatalf("fetched bytes do not split: %v", err)
			}
			if err := kbatch.CheckCRC(b); err != nil {
				t.Fatalf("fetched batch fails its CRC: %v", err)
			}
			b = b[n:]
		}
		ch := tailChunk{b: v, first: first, count: 1, n: 1}
		var meta chunkMeta
		_ = kafkaChunkTimes(ch.b[kafkaHeader:], &meta)
	})
}

// FuzzFramesChunk: any bytes stored as a frames chunk never panic a read,
// and the chunk's header is checked against its key.
func FuzzFramesChunk(f *testing.F) {
	c := appendChunkHeader(nil, FormatFrames, 5)
	c = appendFrame(c, &Record{Timestamp: 1, Payload: []byte("a")})
	c = appendFrame(c, &Record{Timestamp: 2, Payload: []byte("bc")})
	f.Add(uint64(5), c, int64(5))
	f.Add(uint64(6), c, int64(0))
	p := newPartition("t", 0, FormatFrames)
	f.Fuzz(func(t *testing.T, key uint64, v []byte, from int64) {
		first := int64(key >> 1)
		body, reason := checkChunkHeader(v, FormatFrames, first)
		if reason != "" {
			return
		}
		if len(v) < framesHeader || int64(binary.BigEndian.Uint64(v[1:])) != first {
			t.Fatal("a header that does not match its key passed")
		}
		last := int64(-1)
		_, _, _ = readFrames(p, body, first, from, first+1<<20, 1<<20, func(e *Entry) error {
			if e.Offset <= last || e.Offset < from {
				t.Fatalf("offset %d after %d", e.Offset, last)
			}
			last = e.Offset
			return nil
		}, true, false)
		_, _ = walkStoredFrames(v, first, func(int64, *frameView) bool { return true })
	})
}

// FuzzTopicConfig: stored topic configurations of any shape never panic
// the decoder; one that decodes re-encodes to the same bytes, and a flipped
// bit in it or its key is refused.
func FuzzTopicConfig(f *testing.F) {
	key := topicKey("orders")
	f.Add(key, encodeTopicConfig(key, TopicConfig{Partitions: 3, Format: FormatKafka, Retention: Retention{MaxMessages: 10}}, [16]byte{1, 2}), uint16(9))
	f.Add([]byte("topic/x"), []byte{2, 0}, uint16(0))
	f.Fuzz(func(t *testing.T, key, v []byte, flip uint16) {
		cfg, id, reason := decodeTopicConfig(key, v)
		if reason != "" {
			return
		}
		if !bytes.Equal(encodeTopicConfig(key, cfg, id), v) {
			t.Fatal("round trip differs")
		}
		all := append(bytes.Clone(key), v...)
		bit := int(flip) % (len(all) * 8)
		all[bit/8] ^= 1 << (bit % 8)
		if _, _, reason := decodeTopicConfig(all[:len(key)], all[len(key):]); reason == "" {
			t.Fatalf("flip of bit %d passed", bit)
		}
	})
}
