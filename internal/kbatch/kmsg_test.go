package kbatch

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsgBatch encodes recs as one uncompressed v2 batch with kmsg, the
// encoder franz-go uses, setting each record's Length and OffsetDelta and
// the batch's Length, LastOffsetDelta, NumRecords and CRC. The other header
// fields come from proto.
func kmsgBatch(t testing.TB, proto kmsg.RecordBatch, recs []kmsg.Record) []byte {
	t.Helper()
	var raw []byte
	for i := range recs {
		r := recs[i]
		r.OffsetDelta = int32(i)
		r.Length = 0
		body := r.AppendTo(nil)
		// body starts with a 1-byte varint 0 for Length; re-encode with
		// the real length of what follows it.
		r.Length = int32(len(body) - 1)
		raw = r.AppendTo(raw)
	}
	return kmsgSeal(t, proto, int32(len(recs)), raw)
}

// kmsgSeal wraps an already encoded (possibly compressed) record section
// into a batch with kmsg.RecordBatch and computes its CRC.
func kmsgSeal(t testing.TB, proto kmsg.RecordBatch, n int32, records []byte) []byte {
	t.Helper()
	proto.Magic = 2
	proto.Records = records
	proto.NumRecords = n
	proto.LastOffsetDelta = n - 1
	proto.Length = int32(HeaderSize - 12 + len(records))
	b := proto.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// someRecords returns n records with keys, values and headers of several
// shapes, including null key and value and a null header value.
func someRecords(n int) []kmsg.Record {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		r := kmsg.Record{TimestampDelta64: int64(i * 3)}
		switch i % 4 {
		case 0:
			r.Key = []byte("key-" + string(rune('a'+i%26)))
			r.Value = []byte("value")
			r.Headers = []kmsg.Header{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}}
		case 1:
			r.Value = make([]byte, 300) // multi-byte varint lengths
		case 2:
			r.Key = []byte{}
			r.Value = []byte{}
		case 3:
			r.Headers = []kmsg.Header{{Key: "", Value: []byte{}}}
		}
		recs[i] = r
	}
	return recs
}

// testProto is a batch header with every field distinct.
func testProto() kmsg.RecordBatch {
	return kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Attributes:           0,
		FirstTimestamp:       1_700_000_000_123,
		MaxTimestamp:         1_700_000_000_456,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
	}
}
