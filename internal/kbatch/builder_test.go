package kbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// builtRecord is what a test adds to a Builder.
type builtRecord struct {
	ts         int64
	key, value []byte
	headers    []RecordHeader
}

func builtRecords(n int) []builtRecord {
	out := make([]builtRecord, n)
	for i := range out {
		r := builtRecord{ts: 1_700_000_000_000 + int64(i*7%5) - 2} // not monotonic
		switch i % 5 {
		case 0:
			r.key, r.value = []byte("k"), []byte("v")
			r.headers = []RecordHeader{{Key: []byte("message_id"), Value: []byte("m")}, {Key: []byte("n"), Value: nil}}
		case 1:
			r.value = bytes.Repeat([]byte("x"), 20000) // 3-byte length varint
		case 2:
			r.key, r.value = []byte{}, []byte{}
		case 3:
			for j := 0; j < 70; j++ { // > 63 headers: a 2-byte count
				r.headers = append(r.headers, RecordHeader{Key: []byte(fmt.Sprint("h", j)), Value: []byte("v")})
			}
		case 4:
			r.headers = []RecordHeader{{Key: nil, Value: []byte{}}}
		}
		out[i] = r
	}
	return out
}

// kmsgDecode decodes batch with kmsg (and kgo's decompressor) into its
// header and records, the way a franz-go consumer does.
func kmsgDecode(t *testing.T, batch []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatalf("kmsg.RecordBatch.ReadFrom: %v", err)
	}
	if crc := int32(crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))); crc != rb.CRC {
		t.Fatalf("CRC %x, header %x", crc, rb.CRC)
	}
	section := rb.Records
	if c := rb.Attributes & 7; c != 0 {
		var err error
		section, err = kgo.DefaultDecompressor().Decompress(rb.Records, kgo.CompressionCodecType(c))
		if err != nil {
			t.Fatalf("kgo decompress: %v", err)
		}
	}
	var recs []kmsg.Record
	for len(section) > 0 {
		l, n := binary.Varint(section)
		if n <= 0 || int(l)+n > len(section) {
			t.Fatalf("bad record length at %d", len(recs))
		}
		var r kmsg.Record
		if err := r.ReadFrom(section[:n+int(l)]); err != nil {
			t.Fatalf("kmsg.Record.ReadFrom %d: %v", len(recs), err)
		}
		recs = append(recs, r)
		section = section[n+int(l):]
	}
	return rb, recs
}

func TestBuilderBatchesDecodeWithKmsg(t *testing.T) {
	in := builtRecords(23)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := NewBuilder(c)
			for i, r := range in {
				if i%2 == 0 {
					if err := b.Add(r.ts, r.key, r.value, r.headers); err != nil {
						t.Fatal(err)
					}
					continue
				}
				b.StartRecord(r.ts, r.key, r.value)
				for _, h := range r.headers {
					if h.Key != nil && h.Value != nil && len(h.Key)%2 == 0 {
						b.HeaderString(string(h.Key), string(h.Value))
					} else if h.Key != nil && len(h.Key)%3 == 0 {
						b.HeaderValue(string(h.Key), h.Value)
					} else {
						b.Header(h.Key, h.Value)
					}
				}
				if err := b.EndRecord(); err != nil {
					t.Fatal(err)
				}
			}
			if b.Len() != len(in) {
				t.Fatalf("Len %d", b.Len())
			}
			batch, err := b.Finish([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			batch = batch[len("prefix"):]
			rb, recs := kmsgDecode(t, batch)
			minTs, maxTs := in[0].ts, in[0].ts
			for _, r := range in {
				maxTs = max(maxTs, r.ts)
				minTs = min(minTs, r.ts)
			}
			if rb.FirstOffset != 0 || rb.PartitionLeaderEpoch != -1 || rb.Magic != 2 || rb.Attributes != int16(c) ||
				rb.LastOffsetDelta != int32(len(in)-1) || rb.NumRecords != int32(len(in)) || rb.FirstTimestamp != in[0].ts ||
				rb.MaxTimestamp != maxTs || rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 {
				t.Fatalf("header %+v", rb)
			}
			if len(recs) != len(in) {
				t.Fatalf("kmsg decoded %d records, built %d", len(recs), len(in))
			}
			for i, r := range recs {
				w := in[i]
				if r.OffsetDelta != int32(i) || rb.FirstTimestamp+r.TimestampDelta64 != w.ts ||
					!sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) || len(r.Headers) != len(w.headers) {
					t.Fatalf("record %d: %+v", i, r)
				}
				for j, h := range r.Headers {
					if h.Key != string(w.headers[j].Key) || !sameBytes(h.Value, w.headers[j].Value) {
						t.Fatalf("record %d header %d: %q=%q", i, j, h.Key, h.Value)
					}
				}
			}
			if _, err := Validate(batch, ValidateOptions{Decompress: true}); err != nil {
				t.Fatalf("our own Validate: %v", err)
			}
		})
	}
}

// TestKmsgRecordsRoundTripThroughBuilder: records encoded by kmsg, walked
// by ForEachRecord and rebuilt by the Builder are byte-identical to kmsg's
// encoding of the same batch.
func TestKmsgRecordsRoundTripThroughBuilder(t *testing.T) {
	proto := testProto()
	proto.MaxTimestamp = proto.FirstTimestamp + 3*39
	orig := kmsgBatch(t, proto, someRecords(40))
	h, err := Validate(orig, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(CodecNone)
	err = ForEachRecord(h, orig[HeaderSize:], func(r *Record) error {
		return b.Add(r.Timestamp(&h), r.Key, r.Value, r.Headers)
	})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt, orig) {
		t.Fatalf("rebuilt batch differs from kmsg's (%d vs %d bytes)", len(rebuilt), len(orig))
	}
}

func TestBuilderSetProducerAndReset(t *testing.T) {
	b := NewBuilder(CodecNone)
	b.SetProducer(9, 2, 100)
	if err := b.Add(5, nil, []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	batch, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(batch, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.ProducerID != 9 || h.ProducerEpoch != 2 || h.BaseSequence != 100 {
		t.Fatalf("producer fields %+v", h)
	}
	b.Reset(CodecSnappy)
	if b.Len() != 0 || b.Size() != 0 {
		t.Fatalf("after Reset: %d records, %d bytes", b.Len(), b.Size())
	}
	if err := b.Add(6, []byte("k"), nil, nil); err != nil {
		t.Fatal(err)
	}
	batch, _ = b.Finish(nil)
	if h, _ = ParseHeader(batch); h.ProducerID != -1 || h.Codec() != CodecSnappy || h.FirstTimestamp != 6 {
		t.Fatalf("Reset kept old state: %+v", h)
	}
}

func TestBuilderMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(b *Builder) error
		want error
	}{
		{"empty", func(b *Builder) error { _, err := b.Finish(nil); return err }, ErrBuilderEmpty},
		{"header outside a record", func(b *Builder) error { b.HeaderString("k", "v"); return b.EndRecord() }, ErrBuilderMisuse},
		{"two StartRecords", func(b *Builder) error { b.StartRecord(0, nil, nil); b.StartRecord(0, nil, nil); return b.EndRecord() }, ErrBuilderMisuse},
		{"EndRecord alone", func(b *Builder) error { return b.EndRecord() }, ErrBuilderMisuse},
		{"Finish with a record open", func(b *Builder) error { b.StartRecord(0, nil, nil); _, err := b.Finish(nil); return err }, ErrBuilderMisuse},
		{"sticky", func(b *Builder) error {
			b.Header(nil, nil)
			_ = b.EndRecord()
			if err := b.Add(0, nil, nil, nil); !errors.Is(err, ErrBuilderMisuse) {
				return fmt.Errorf("Add after misuse: %v", err)
			}
			_, err := b.Finish(nil)
			return err
		}, ErrBuilderMisuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			if err := tc.do(&b); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	// Reset clears a sticky error.
	var b Builder
	b.Header(nil, nil)
	b.Reset(CodecNone)
	if err := b.Add(0, nil, nil, nil); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
}

func TestBuilderDoesNotAllocateWhenReused(t *testing.T) {
	b := NewBuilder(CodecNone)
	key, value := []byte("key"), bytes.Repeat([]byte("v"), 256)
	var dst []byte
	build := func() {
		b.Reset(CodecNone)
		for i := 0; i < 10; i++ {
			b.StartRecord(int64(i), key, value)
			b.HeaderString("correlation_id", "0b5d2f3e-1c1a-4a5e-9f5e-3c2d1b0a9f8e")
			b.HeaderString("content_type", "application/json")
			if err := b.EndRecord(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if dst, err = b.Finish(dst[:0]); err != nil {
			t.Fatal(err)
		}
	}
	build()
	if allocs := testing.AllocsPerRun(200, build); allocs != 0 {
		t.Fatalf("reused Builder allocates %v per batch, want 0", allocs)
	}
}

func BenchmarkBuilder(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 256)
	hdrs := strings.Split("correlation_id message_id timestamp source event_type content_type schema_version priority", " ")
	for _, c := range []Codec{CodecNone, CodecSnappy} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("codec=%v/records=%d", c, n), func(b *testing.B) {
				b.ReportAllocs()
				bl := NewBuilder(c)
				var dst []byte
				var err error
				for b.Loop() {
					bl.Reset(c)
					for i := 0; i < n; i++ {
						bl.StartRecord(int64(i), nil, value)
						for _, h := range hdrs {
							bl.HeaderString(h, "0b5d2f3e-1c1a-4a5e-9f5e-3c2d1b0a9f8e")
						}
						if err := bl.EndRecord(); err != nil {
							b.Fatal(err)
						}
					}
					if dst, err = bl.Finish(dst[:0]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
