package kbatch

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseHeaderReadsEveryField(t *testing.T) {
	proto := kmsg.RecordBatch{
		FirstOffset:          0x0102030405060708,
		PartitionLeaderEpoch: 77,
		Attributes:           int16(CodecNone) | attrLogAppendTime | attrTransactional,
		FirstTimestamp:       1_700_000_000_000,
		MaxTimestamp:         1_700_000_000_999,
		ProducerID:           4242,
		ProducerEpoch:        9,
		FirstSequence:        123,
	}
	b := kmsgBatch(t, proto, someRecords(5))
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: kb.FirstOffset, Length: kb.Length, PartitionLeaderEpoch: kb.PartitionLeaderEpoch,
		Magic: kb.Magic, CRC: uint32(kb.CRC), Attributes: kb.Attributes, LastOffsetDelta: kb.LastOffsetDelta,
		FirstTimestamp: kb.FirstTimestamp, MaxTimestamp: kb.MaxTimestamp, ProducerID: kb.ProducerID,
		ProducerEpoch: kb.ProducerEpoch, BaseSequence: kb.FirstSequence, NumRecords: kb.NumRecords,
	}
	if h != want {
		t.Fatalf("ParseHeader = %+v, kmsg says %+v", h, want)
	}
	if h.Codec() != CodecNone || !h.LogAppendTime() || !h.Transactional() || h.Control() {
		t.Fatalf("attribute methods wrong: codec %v lat %v txn %v ctl %v", h.Codec(), h.LogAppendTime(), h.Transactional(), h.Control())
	}
	if h.Records() != 5 || h.Len() != len(b) {
		t.Fatalf("Records() = %d, Len() = %d (len %d)", h.Records(), h.Len(), len(b))
	}
}

func TestHeaderAttributeBits(t *testing.T) {
	for _, tc := range []struct {
		attrs             int16
		codec             Codec
		lat, txn, control bool
	}{
		{0, CodecNone, false, false, false},
		{1, CodecGzip, false, false, false},
		{2, CodecSnappy, false, false, false},
		{3, CodecLZ4, false, false, false},
		{4, CodecZstd, false, false, false},
		{0x08 | 4, CodecZstd, true, false, false},
		{0x10, CodecNone, false, true, false},
		{0x30, CodecNone, false, true, true},
		{0x40 | 7, Codec(7), false, false, false},
	} {
		t.Run(fmt.Sprintf("attrs=%#x", tc.attrs), func(t *testing.T) {
			h := Header{Attributes: tc.attrs}
			if h.Codec() != tc.codec || h.LogAppendTime() != tc.lat || h.Transactional() != tc.txn || h.Control() != tc.control {
				t.Fatalf("got codec %v lat %v txn %v control %v", h.Codec(), h.LogAppendTime(), h.Transactional(), h.Control())
			}
		})
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd", 5: "codec(5)"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", int8(c), got, want)
		}
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good := kmsgBatch(t, testProto(), someRecords(2))
	magic1 := append([]byte(nil), good...)
	magic1[offMagic] = 1
	shortLen := append([]byte(nil), good...)
	shortLen[offLength], shortLen[offLength+1], shortLen[offLength+2], shortLen[offLength+3] = 0, 0, 0, 48
	negLen := append([]byte(nil), good...)
	negLen[offLength] = 0x80
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"60 bytes", good[:HeaderSize-1], ErrTruncated},
		{"magic 1", magic1, ErrMagic},
		{"length 48", shortLen, ErrLength},
		{"negative length", negLen, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHeader(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("ParseHeader: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseHeader(good[:HeaderSize]); err != nil {
		t.Fatalf("ParseHeader needs only the header: %v", err)
	}
}

func TestBatchLenSplitsRecordSets(t *testing.T) {
	a := kmsgBatch(t, testProto(), someRecords(3))
	b := kmsgBatch(t, testProto(), someRecords(7))
	set := append(append([]byte(nil), a...), b...)
	var got []int
	for rest := set; len(rest) > 0; {
		n, err := BatchLen(rest)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		rest = rest[n:]
	}
	if len(got) != 2 || got[0] != len(a) || got[1] != len(b) {
		t.Fatalf("split into %v, want [%d %d]", got, len(a), len(b))
	}

	// A partial trailing batch: its size and ErrTruncated.
	n, err := BatchLen(b[:len(b)-1])
	if n != len(b) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("partial batch: %d, %v; want %d, ErrTruncated", n, err, len(b))
	}
	if n, err := BatchLen(b[:11]); n != 0 || !errors.Is(err, ErrTruncated) {
		t.Fatalf("11 bytes: %d, %v", n, err)
	}
	bad := append([]byte(nil), a...)
	bad[offLength], bad[offLength+1], bad[offLength+2], bad[offLength+3] = 0, 0, 0, 10
	if _, err := BatchLen(bad); !errors.Is(err, ErrLength) {
		t.Fatalf("length 10: %v", err)
	}
}

func TestCheckCRCCoversAttributesToEnd(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(4))
	if err := CheckCRC(b); err != nil {
		t.Fatal(err)
	}
	// Trailing bytes after the batch are not part of it.
	if err := CheckCRC(append(append([]byte(nil), b...), 0xff, 0xff)); err != nil {
		t.Fatalf("trailing bytes: %v", err)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		err := CheckCRC(c)
		switch {
		case i >= offAttributes || (i >= offCRC && i < offAttributes):
			if !errors.Is(err, ErrCRC) {
				t.Fatalf("flip in byte %d: %v, want ErrCRC", i, err)
			}
		case i >= offLength && i < offLeaderEpoch:
			if err == nil {
				t.Fatalf("flip in length byte %d not detected", i)
			}
		default: // base offset, leader epoch, magic: outside the CRC
			if err != nil {
				t.Fatalf("flip in byte %d (outside the CRC): %v", i, err)
			}
		}
	}
	if err := CheckCRC(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestSetBaseOffsetAndLeaderEpochKeepCRC(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(3))
	SetBaseOffset(b, 1<<40+5)
	SetLeaderEpoch(b, 12)
	if err := CheckCRC(b); err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1<<40+5 || h.PartitionLeaderEpoch != 12 {
		t.Fatalf("header after set: %+v", h)
	}
	// Short inputs are left alone, never a panic.
	short := []byte{1, 2, 3}
	SetBaseOffset(short, 9)
	SetLeaderEpoch(short, 9)
	if short[0] != 1 || short[2] != 3 {
		t.Fatalf("short input changed: %v", short)
	}
}

func TestHeaderHotPathDoesNotAllocate(t *testing.T) {
	b := kmsgBatch(t, testProto(), someRecords(50))
	var sink int64
	allocs := testing.AllocsPerRun(1000, func() {
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		n, err := BatchLen(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCRC(b); err != nil {
			t.Fatal(err)
		}
		SetBaseOffset(b, int64(n))
		SetLeaderEpoch(b, 1)
		sink += h.BaseOffset
	})
	if allocs != 0 {
		t.Fatalf("header hot path: %v allocs per run, want 0", allocs)
	}
	_ = sink
}

func BenchmarkHeader(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		batch := kmsgBatch(b, testProto(), someRecords(n))
		b.Run(fmt.Sprintf("records=%d/bytes=%d", n, len(batch)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := ParseHeader(batch); err != nil {
					b.Fatal(err)
				}
				if err := CheckCRC(batch); err != nil {
					b.Fatal(err)
				}
				SetBaseOffset(batch, 42)
				SetLeaderEpoch(batch, 0)
			}
		})
	}
}
