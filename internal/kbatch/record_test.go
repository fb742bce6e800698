package kbatch

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestForEachRecordAgreesWithKmsg walks a kmsg-encoded batch and compares
// every field with kmsg's own record decoding.
func TestForEachRecordAgreesWithKmsg(t *testing.T) {
	recs := someRecords(40)
	b := kmsgBatch(t, testProto(), recs)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = ForEachRecord(h, b[HeaderSize:], func(r *Record) error {
		want := recs[i]
		if r.OffsetDelta != int32(i) || r.TimestampDelta != want.TimestampDelta64 || r.Attributes != 0 {
			return fmt.Errorf("record %d: delta %d ts %d", i, r.OffsetDelta, r.TimestampDelta)
		}
		if !sameBytes(r.Key, want.Key) || !sameBytes(r.Value, want.Value) {
			return fmt.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, want.Key, want.Value)
		}
		if len(r.Headers) != len(want.Headers) {
			return fmt.Errorf("record %d: %d headers, want %d", i, len(r.Headers), len(want.Headers))
		}
		for j, hd := range r.Headers {
			if string(hd.Key) != want.Headers[j].Key || !sameBytes(hd.Value, want.Headers[j].Value) {
				return fmt.Errorf("record %d header %d: %q=%q", i, j, hd.Key, hd.Value)
			}
		}
		if got, want := r.Offset(&h), h.BaseOffset+int64(i); got != want {
			return fmt.Errorf("Offset = %d, want %d", got, want)
		}
		if got, want := r.Timestamp(&h), h.FirstTimestamp+want.TimestampDelta64; got != want {
			return fmt.Errorf("Timestamp = %d, want %d", got, want)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(recs) {
		t.Fatalf("walked %d of %d", i, len(recs))
	}
}

// sameBytes compares contents and null-ness.
func sameBytes(a, b []byte) bool { return string(a) == string(b) && (a == nil) == (b == nil) }

func TestRecordTimestampLogAppendTimeUsesMax(t *testing.T) {
	h := Header{Attributes: attrLogAppendTime, FirstTimestamp: 10, MaxTimestamp: 99}
	r := Record{TimestampDelta: 5}
	if got := r.Timestamp(&h); got != 99 {
		t.Fatalf("LogAppendTime record timestamp %d, want MaxTimestamp 99", got)
	}
}

func TestForEachRecordStopsOnCallbackError(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(10))
	h, _ := ParseHeader(b)
	stop := errors.New("stop")
	n := 0
	err := ForEachRecord(h, b[HeaderSize:], func(*Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("err %v after %d records; want the callback's error as it is after 3", err, n)
	}
}

func TestForEachRecordFramingErrors(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(4))
	h, _ := ParseHeader(b)
	section := b[HeaderSize:]
	for _, tc := range []struct {
		name string
		h    Header
		recs []byte
		want error
	}{
		{"negative count", Header{NumRecords: -1}, section, ErrRecordCount},
		{"section short", func() Header { x := h; x.NumRecords = 5; return x }(), section, ErrRecordsLeft},
		{"bytes after", func() Header { x := h; x.NumRecords = 3; return x }(), section, ErrRecordsLeft},
		{"cut inside a record", h, section[:len(section)-2], ErrTruncated},
		{"empty record", Header{NumRecords: 1}, []byte{0x00}, ErrRecord},
		{"ts varint 11 bytes", Header{NumRecords: 1}, []byte{0x18, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrRecord},
		{"ts varint 10th byte too big", Header{NumRecords: 1}, []byte{0x16, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrRecord},
		{"offset delta varint 5th byte too big", Header{NumRecords: 1}, []byte{0x0e, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x10}, ErrRecord},
		{"value overruns record", Header{NumRecords: 1}, []byte{0x0a, 0, 0, 0, 0x01, 0x08}, ErrRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ForEachRecord(tc.h, tc.recs, func(*Record) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("ForEachRecord: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVarintsMatchKafkaEncoding(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, 300, -300, 1 << 31, -(1 << 31), 1<<62 + 7, -(1 << 63), 1<<63 - 1} {
		enc := appendVarint64(nil, v)
		if len(enc) != varint64Len(v) {
			t.Fatalf("varint64Len(%d) = %d, encoded %d", v, varint64Len(v), len(enc))
		}
		got, n := readVarint64(enc)
		if got != v || n != len(enc) {
			t.Fatalf("varlong %d: decoded %d in %d of %d bytes", v, got, n, len(enc))
		}
		if v == int64(int32(v)) {
			enc32 := appendVarint32(nil, int32(v))
			if string(enc32) != string(enc) {
				t.Fatalf("varint %d encodes as %x, varlong as %x", v, enc32, enc)
			}
			got, n := readVarint32(enc32)
			if int64(got) != v || n != len(enc32) || varint32Len(int32(v)) != n {
				t.Fatalf("varint %d: decoded %d in %d bytes", v, got, n)
			}
		}
		// kmsg encodes the same bytes (a record's key length is a varint).
		r := kmsg.Record{TimestampDelta64: v}
		if kb := r.AppendTo(nil); string(kb[2:2+len(enc)]) != string(enc) {
			t.Fatalf("kmsg encodes varlong %d as %x, we as %x", v, kb[2:2+len(enc)], enc)
		}
	}
	if _, n := readVarint32([]byte{0x80, 0x80}); n != 0 {
		t.Fatalf("truncated varint: n = %d, want 0", n)
	}
	if _, n := readVarint32([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}); n >= 0 {
		t.Fatalf("6-byte varint accepted")
	}
}

func TestForEachRecordDoesNotAllocate(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(100))
	h, _ := ParseHeader(b)
	fn := func(r *Record) error { return nil }
	// Warm the pool.
	_ = ForEachRecord(h, b[HeaderSize:], fn)
	if allocs := testing.AllocsPerRun(200, func() {
		if err := ForEachRecord(h, b[HeaderSize:], fn); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("ForEachRecord allocates %v per batch, want 0", allocs)
	}
}

func BenchmarkForEachRecord(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		batch := kmsgBatch(b, testProto(), someRecords(n))
		h, _ := ParseHeader(batch)
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			var keys int
			for b.Loop() {
				if err := ForEachRecord(h, batch[HeaderSize:], func(r *Record) error { keys += len(r.Key); return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		batch := kmsgBatch(b, testProto(), someRecords(n))
		b.Run(fmt.Sprintf("codec=none/records=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestReadRecordRawAndNextHeader(t *testing.T) {
	recs := someRecords(8)
	b := kmsgBatch(t, testProto(), recs)
	rest := b[HeaderSize:]
	for i := range recs {
		var full, raw Record
		n1, err := ReadRecord(rest, &full)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := ReadRecordRaw(rest, &raw)
		if err != nil || n1 != n2 {
			t.Fatalf("record %d: ReadRecordRaw %d, %v; ReadRecord %d", i, n2, err, n1)
		}
		if raw.Headers != nil || int(raw.NumHeaders) != len(full.Headers) || !sameBytes(raw.Key, full.Key) || !sameBytes(raw.Value, full.Value) {
			t.Fatalf("record %d: raw %+v", i, raw)
		}
		hs := raw.RawHeaders
		for j := range full.Headers {
			k, v, next, err := NextHeader(hs)
			if err != nil || !bytes.Equal(k, full.Headers[j].Key) || !sameBytes(v, full.Headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q, %v", i, j, k, v, err)
			}
			hs = next
		}
		if len(hs) != 0 {
			t.Fatalf("record %d: %d header bytes left", i, len(hs))
		}
		rest = rest[n1:]
	}
	if _, _, _, err := NextHeader([]byte{0x01}); !errors.Is(err, ErrRecord) {
		t.Fatalf("null key: %v", err)
	}
	if _, _, _, err := NextHeader([]byte{0x08, 'a'}); !errors.Is(err, ErrRecord) {
		t.Fatalf("short key: %v", err)
	}
	var rec Record
	if a := testing.AllocsPerRun(100, func() { _, _ = ReadRecordRaw(b[HeaderSize:], &rec) }); a != 0 {
		t.Fatalf("ReadRecordRaw allocates %v", a)
	}
}
