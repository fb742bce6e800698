package kbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// sealed wraps a compressed section in a batch header with codec c.
func sealed(t testing.TB, c Codec, n int32, section []byte) ([]byte, Header) {
	t.Helper()
	p := testProto()
	p.Attributes = int16(c)
	b := kmsgSeal(t, p, n, section)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

func TestCompressDecompressRoundTrip(t *testing.T) {
	raw := kmsgBatch(t, testProto(), someRecords(200))[HeaderSize:]
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			prefix := []byte("keep")
			comp, err := Compress(c, raw, append([]byte(nil), prefix...))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(comp, prefix) {
				t.Fatal("Compress did not append to dst")
			}
			b, h := sealed(t, c, 200, comp[len(prefix):])
			if _, err := Validate(b, ValidateOptions{Decompress: true}); err != nil {
				t.Fatal(err)
			}
			out, err := Decompress(h, b, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != "x"+string(raw) {
				t.Fatalf("round trip differs: %d bytes, want %d", len(out), len(raw)+1)
			}
			// Exactly the size is allowed; one byte less is not.
			if _, err := DecompressLimit(h, b, nil, len(raw)); err != nil {
				t.Fatalf("limit = size: %v", err)
			}
			if _, err := DecompressLimit(h, b, nil, len(raw)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("limit = size-1: %v, want ErrTooLarge", err)
			}
		})
	}
}

// TestDecompressReadsOtherEncoders checks the section as other encoders
// write it: the standard gzip, snappy's xerial framing (Java client), the
// lz4 frame format and zstd from the reference library's options.
func TestDecompressReadsOtherEncoders(t *testing.T) {
	raw := kmsgBatch(t, testProto(), someRecords(100))[HeaderSize:]
	xerial := func(blockSize int) []byte {
		out := append([]byte(nil), xerialMagic...)
		out = binary.BigEndian.AppendUint32(out, 1)
		out = binary.BigEndian.AppendUint32(out, 1)
		for rest := raw; len(rest) > 0; {
			n := min(blockSize, len(rest))
			blk := snappy.Encode(nil, rest[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
			out = append(out, blk...)
			rest = rest[n:]
		}
		return out
	}
	gz := func() []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(raw[:len(raw)/2])
		w.Close()
		// A second gzip member: readers must concatenate them.
		w2 := gzip.NewWriter(&buf)
		w2.Write(raw[len(raw)/2:])
		w2.Close()
		return buf.Bytes()
	}
	lz := func() []byte {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(true))
		w.Write(raw)
		w.Close()
		return buf.Bytes()
	}
	zs := func() []byte {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
		defer e.Close()
		return e.EncodeAll(raw, nil)
	}
	for _, tc := range []struct {
		name    string
		c       Codec
		section []byte
	}{
		{"snappy xerial one block", CodecSnappy, xerial(1 << 20)},
		{"snappy xerial 1 KiB blocks", CodecSnappy, xerial(1 << 10)},
		{"gzip two members", CodecGzip, gz()},
		{"lz4 64 KiB blocks with checksum", CodecLZ4, lz()},
		{"zstd best compression", CodecZstd, zs()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, h := sealed(t, tc.c, 100, tc.section)
			out, err := Decompress(h, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, raw) {
				t.Fatalf("decoded %d bytes, want %d", len(out), len(raw))
			}
		})
	}
}

// TestDecompressBombIsBounded: 64 MiB of zeros compress to a few KiB in
// every codec; a 1 MiB limit refuses each without expanding it all.
func TestDecompressBombIsBounded(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, zeros, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, h := sealed(t, c, 1, comp)
			out, err := DecompressLimit(h, b, nil, 1<<20)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d compressed bytes: %v, want ErrTooLarge", len(comp), err)
			}
			if cap(out) > 4<<20 {
				t.Fatalf("refusing the bomb allocated %d bytes", cap(out))
			}
		})
	}
	t.Run("snappy xerial", func(t *testing.T) {
		out := append([]byte(nil), xerialMagic...)
		out = append(out, 0, 0, 0, 1, 0, 0, 0, 1)
		blk := snappy.Encode(nil, zeros[:1<<20])
		for range 8 {
			out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
			out = append(out, blk...)
		}
		b, h := sealed(t, CodecSnappy, 1, out)
		if _, err := DecompressLimit(h, b, nil, 3<<20); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("8 MiB of xerial blocks under a 3 MiB limit: %v", err)
		}
	})
}

func TestDecompressGarbage(t *testing.T) {
	for _, c := range allCodecs[1:] {
		for i, section := range [][]byte{nil, {0}, []byte("definitely not compressed data"), append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff)} {
			t.Run(fmt.Sprintf("%v/%d", c, i), func(t *testing.T) {
				b, h := sealed(t, c, 1, section)
				// Some codecs read an empty input (or snappy's 0, an empty
				// block) as nothing; the record walk then refuses the
				// empty section. Anything else is an error.
				out, err := Decompress(h, b, nil)
				if !errors.Is(err, ErrDecompress) && !(err == nil && len(out) == 0) {
					t.Fatalf("Decompress: %d bytes, %v; want ErrDecompress", len(out), err)
				}
				if err == nil {
					if _, err := Validate(b, ValidateOptions{Decompress: true}); !errors.Is(err, ErrRecordsLeft) {
						t.Fatalf("Validate of an empty section: %v", err)
					}
				}
			})
		}
	}
	b, h := sealed(t, Codec(5), 1, []byte{1})
	if _, err := Decompress(h, b, nil); !errors.Is(err, ErrCodec) {
		t.Fatalf("codec 5: %v", err)
	}
	if _, err := Compress(Codec(6), []byte{1}, nil); !errors.Is(err, ErrCodec) {
		t.Fatalf("Compress codec 6: %v", err)
	}
	if _, err := Decompress(h, b[:len(b)-1], nil); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short batch: %v", err)
	}
}

func BenchmarkDecompress(b *testing.B) {
	raw := kmsgBatch(b, testProto(), someRecords(1000))[HeaderSize:]
	for _, c := range allCodecs {
		comp, err := Compress(c, raw, nil)
		if err != nil {
			b.Fatal(err)
		}
		batch, h := sealed(b, c, 1000, comp)
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			var dst []byte
			for b.Loop() {
				if dst, err = Decompress(h, batch, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompress(b *testing.B) {
	raw := kmsgBatch(b, testProto(), someRecords(1000))[HeaderSize:]
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			var dst []byte
			var err error
			for b.Loop() {
				if dst, err = Compress(c, raw, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
