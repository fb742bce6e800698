package kbatch

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// reseal recomputes the CRC of b after a test edited a covered field.
func reseal(b []byte) []byte { computeCRC(b); return b }

// TestValidateRules has one case per broker rule, each expecting its
// sentinel, plus the batches that must pass.
func TestValidateRules(t *testing.T) {
	good := func() []byte { return kmsgBatch(t, testProto(), someRecords(5)) }
	put32 := func(b []byte, off int, v int32) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
	withProto := func(edit func(*kmsg.RecordBatch)) []byte {
		p := testProto()
		edit(&p)
		return kmsgBatch(t, p, someRecords(3))
	}
	// A record section with an offset delta out of sequence: record 1
	// claims delta 5.
	badDelta := func() []byte {
		recs := someRecords(3)
		var raw []byte
		for i := range recs {
			r := recs[i]
			r.OffsetDelta = int32(i)
			if i == 1 {
				r.OffsetDelta = 5
			}
			body := r.AppendTo(nil)
			r.Length = int32(len(body) - 1)
			raw = r.AppendTo(raw)
		}
		return kmsgSeal(t, testProto(), 3, raw)
	}
	sectionOf := func(n int) []byte { b := kmsgBatch(t, testProto(), someRecords(n)); return b[HeaderSize:] }
	for _, tc := range []struct {
		name string
		b    []byte
		want error // nil: valid
	}{
		{"valid uncompressed", good(), nil},
		{"valid single record", kmsgBatch(t, testProto(), someRecords(1)), nil},
		{"valid idempotent", withProto(func(p *kmsg.RecordBatch) { p.ProducerID, p.ProducerEpoch, p.FirstSequence = 7, 0, 0 }), nil},
		{"truncated header", good()[:40], ErrTruncated},
		{"truncated records", good()[:len(good())-3], ErrTruncated},
		{"length below header", put32(good(), offLength, 10), ErrLength},
		{"two batches", append(good(), good()...), ErrNotOneBatch},
		{"trailing byte", append(good(), 0), ErrNotOneBatch},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }(), ErrMagic},
		{"crc", func() []byte { b := good(); b[len(b)-1] ^= 0xff; return b }(), ErrCRC},
		{"base offset 3", func() []byte { b := good(); SetBaseOffset(b, 3); return b }(), ErrBaseOffset},
		{"last offset delta", reseal(put32(good(), offLastOffsetDelta, 3)), ErrRecordCount},
		{"zero records", reseal(put32(put32(good(), offNumRecords, 0), offLastOffsetDelta, -1)), ErrRecordCount},
		{"negative records", reseal(put32(put32(good(), offNumRecords, -2), offLastOffsetDelta, -3)), ErrRecordCount},
		{"control batch", withProto(func(p *kmsg.RecordBatch) { p.Attributes = attrControl | attrTransactional }), ErrControlBatch},
		{"codec 5", withProto(func(p *kmsg.RecordBatch) { p.Attributes = 5 }), ErrCodec},
		{"codec 7", withProto(func(p *kmsg.RecordBatch) { p.Attributes = 7 }), ErrCodec},
		{"fewer records than declared", kmsgSeal(t, testProto(), 6, sectionOf(5)), ErrRecordsLeft},
		{"more records than declared", kmsgSeal(t, testProto(), 4, sectionOf(5)), ErrRecordsLeft},
		{"offset delta out of sequence", badDelta(), ErrOffsetDelta},
		{"record length overruns", kmsgSeal(t, testProto(), 1, []byte{0x7e, 0, 0, 0}), ErrTruncated},
		{"negative record length", kmsgSeal(t, testProto(), 1, []byte{0x01, 0, 0, 0}), ErrRecord},
		{"overlong varint", kmsgSeal(t, testProto(), 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), ErrRecord},
		// length 6: attrs, ts 0, delta 0, key len -3.
		{"key length -3", kmsgSeal(t, testProto(), 1, []byte{0x0c, 0, 0, 0, 0x05, 0, 0}), ErrRecord},
		// length 6: attrs, ts, delta, key null, value null, header count -1.
		{"negative header count", kmsgSeal(t, testProto(), 1, []byte{0x0c, 0, 0, 0, 0x01, 0x01, 0x01}), ErrRecord},
		// header count 1 but a null header key.
		{"null header key", kmsgSeal(t, testProto(), 1, []byte{0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01}), ErrRecord},
		// length 7 but the fields end after 6.
		{"record longer than its fields", kmsgSeal(t, testProto(), 1, []byte{0x0e, 0, 0, 0, 0x01, 0x01, 0x00, 0x00}), ErrRecord},
		{"huge header count", kmsgSeal(t, testProto(), 1, []byte{0x0e, 0, 0, 0, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x07}), ErrRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.b, ValidateOptions{})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidateCompressedRecordsOnlyWhenAsked(t *testing.T) {
	// A gzip batch whose decompressed section declares one record too many.
	raw := kmsgBatch(t, testProto(), someRecords(4))[HeaderSize:]
	comp, err := Compress(CodecGzip, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := testProto()
	p.Attributes = int16(CodecGzip)
	b := kmsgSeal(t, p, 5, comp)
	if _, err := Validate(b, ValidateOptions{}); err != nil {
		t.Fatalf("without Decompress the records are not walked: %v", err)
	}
	if _, err := Validate(b, ValidateOptions{Decompress: true}); !errors.Is(err, ErrRecordsLeft) {
		t.Fatalf("with Decompress: %v, want ErrRecordsLeft", err)
	}
	// The limit applies.
	good := kmsgSeal(t, p, 4, comp)
	if _, err := Validate(good, ValidateOptions{Decompress: true, DecompressLimit: len(raw) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit below the section: %v, want ErrTooLarge", err)
	}
	var scratch []byte
	if _, err := Validate(good, ValidateOptions{Decompress: true, DecompressLimit: len(raw), Scratch: &scratch}); err != nil {
		t.Fatal(err)
	}
	if string(scratch) != string(raw) {
		t.Fatal("Scratch does not hold the decompressed section")
	}
	// Garbage in place of gzip.
	bad := kmsgSeal(t, p, 4, []byte("not gzip at all"))
	if _, err := Validate(bad, ValidateOptions{Decompress: true}); !errors.Is(err, ErrDecompress) {
		t.Fatalf("garbage gzip: %v, want ErrDecompress", err)
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(100))
	// A record with more headers than the walk's stack array holds.
	many := someRecords(2)
	for i := 0; i < 40; i++ {
		many[1].Headers = append(many[1].Headers, kmsg.Header{Key: "k", Value: []byte("v")})
	}
	m := kmsgBatch(t, testProto(), many)
	for name, batch := range map[string][]byte{"100 records": b, "40 headers": m} {
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := Validate(batch, ValidateOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Validate allocates %v per run, want 0", name, allocs)
		}
	}
}
