package kbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzSeeds are valid batches of every codec plus damaged copies.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	raw := kmsgBatch(f, testProto(), someRecords(6))
	seeds = append(seeds, raw, kmsgBatch(f, testProto(), someRecords(1)))
	for _, c := range allCodecs[1:] {
		comp, err := Compress(c, raw[HeaderSize:], nil)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := sealed(f, c, 6, comp)
		seeds = append(seeds, b)
	}
	cut := append([]byte(nil), raw[:len(raw)-4]...)
	flip := append([]byte(nil), raw...)
	flip[HeaderSize+3] ^= 0x40
	reseal(flip)
	return append(seeds, cut, flip, nil, raw[:HeaderSize])
}

// FuzzValidate: no input panics any reader; a batch that validates parses
// to the same header on a copy and as the first batch of a record set,
// every strict prefix of it fails, and walking and rebuilding it gives a
// batch that validates with the same records.
func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// None of these may panic, whatever data is.
		_, _ = ParseHeader(data)
		_, _ = BatchLen(data)
		_ = CheckCRC(data)
		if len(data) >= HeaderSize {
			h, _ := ParseHeader(data)
			_ = ForEachRecord(h, data[HeaderSize:], func(*Record) error { return nil })
			_, _ = DecompressLimit(h, data, nil, 1<<16)
		}
		var scratch []byte
		h, err := Validate(data, ValidateOptions{Decompress: true, DecompressLimit: 1 << 20, Scratch: &scratch})
		if err != nil {
			return
		}
		again, err := Validate(bytes.Clone(data), ValidateOptions{Decompress: true, DecompressLimit: 1 << 20})
		if err != nil || again != h {
			t.Fatalf("re-validating a copy: %+v, %v; first %+v", again, err, h)
		}
		// As the first batch of a record set followed by anything.
		set := append(bytes.Clone(data), data...)
		n, err := BatchLen(set)
		if err != nil || n != len(data) {
			t.Fatalf("BatchLen of a record set: %d, %v; want %d", n, err, len(data))
		}
		if first, err := ParseHeader(set); err != nil || first != h {
			t.Fatalf("header in a record set: %+v, %v", first, err)
		}
		if _, err := Validate(set, ValidateOptions{}); !errors.Is(err, ErrNotOneBatch) {
			t.Fatalf("two batches validated as one: %v", err)
		}
		for _, cut := range []int{0, 1, HeaderSize - 1, HeaderSize, len(data) / 2, len(data) - 1} {
			if cut < 0 || cut >= len(data) {
				continue
			}
			if _, err := Validate(data[:cut], ValidateOptions{}); err == nil {
				t.Fatalf("prefix of %d of %d bytes validated", cut, len(data))
			}
		}
		// Walk and rebuild.
		section := data[HeaderSize:]
		if h.Codec() != CodecNone {
			section = scratch
		}
		var want []builtRecord
		bl := NewBuilder(h.Codec())
		err = ForEachRecord(h, section, func(r *Record) error {
			br := builtRecord{ts: r.Timestamp(&h), key: bytes.Clone(r.Key), value: bytes.Clone(r.Value)}
			for _, x := range r.Headers {
				br.headers = append(br.headers, RecordHeader{Key: bytes.Clone(x.Key), Value: bytes.Clone(x.Value)})
			}
			want = append(want, br)
			return bl.Add(br.ts, br.key, br.value, br.headers)
		})
		if err != nil {
			t.Fatalf("ForEachRecord after Validate: %v", err)
		}
		rebuilt, err := bl.Finish(nil)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		checkBuilt(t, rebuilt, want)
	})
}

// checkBuilt validates batch and compares its records with want.
func checkBuilt(t *testing.T, batch []byte, want []builtRecord) {
	t.Helper()
	var scratch []byte
	h, err := Validate(batch, ValidateOptions{Decompress: true, Scratch: &scratch})
	if err != nil {
		t.Fatalf("built batch does not validate: %v", err)
	}
	section := batch[HeaderSize:]
	if h.Codec() != CodecNone {
		section = scratch
	}
	i := 0
	err = ForEachRecord(h, section, func(r *Record) error {
		w := want[i]
		if r.Timestamp(&h) != w.ts || !sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) || len(r.Headers) != len(w.headers) {
			t.Fatalf("record %d differs after build", i)
		}
		for j, x := range r.Headers {
			if !bytes.Equal(x.Key, w.headers[j].Key) || !sameBytes(x.Value, w.headers[j].Value) {
				t.Fatalf("record %d header %d differs after build", i, j)
			}
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("walk of built batch: %d of %d records, %v", i, len(want), err)
	}
}

// FuzzBuildParse: records derived from arbitrary bytes, built in any
// codec, parse back to exactly those records.
func FuzzBuildParse(f *testing.F) {
	f.Add([]byte("\x00hello\x01world\x02key\x03"), byte(0))
	f.Add(bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 100), byte(2))
	f.Add([]byte{}, byte(4))
	f.Fuzz(func(t *testing.T, data []byte, codec byte) {
		c := Codec(codec % 5)
		var want []builtRecord
		bl := NewBuilder(c)
		// Each record takes a control byte, then pieces split on it.
		for len(data) > 0 && len(want) < 200 {
			ctl := data[0]
			data = data[1:]
			take := func(n int) []byte {
				n = min(n, len(data))
				p := data[:n:n]
				data = data[n:]
				return p
			}
			r := builtRecord{ts: int64(binary.LittleEndian.Uint16(append(take(2), 0, 0))) - 30000}
			if ctl&1 != 0 {
				r.key = take(int(ctl >> 4))
			}
			if ctl&2 != 0 {
				r.value = take(int(ctl))
			}
			for j := 0; j < int(ctl>>5); j++ {
				h := RecordHeader{Key: take(int(ctl&7) + j)}
				if ctl&4 != 0 {
					h.Value = take(3)
				}
				if h.Key == nil {
					h.Key = []byte{}
				}
				r.headers = append(r.headers, h)
			}
			want = append(want, r)
			if err := bl.Add(r.ts, r.key, r.value, r.headers); err != nil {
				t.Fatal(err)
			}
		}
		batch, err := bl.Finish(nil)
		if len(want) == 0 {
			if !errors.Is(err, ErrBuilderEmpty) {
				t.Fatalf("empty Finish: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkBuilt(t, batch, want)
	})
}

// FuzzReadRecord: one record from arbitrary bytes never panics, spans no
// more than the input, and its fields survive a build and a re-read (the
// bytes may differ: a non-minimal varint is read but written minimal).
func FuzzReadRecord(f *testing.F) {
	b := kmsgBatch(f, testProto(), someRecords(4))
	f.Add(b[HeaderSize:])
	f.Add([]byte{0x0c, 0, 0, 0, 0x01, 0x01, 0x00})
	f.Add([]byte{0x0e, 0, 0x80, 0x00, 0, 0x01, 0x01, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec Record
		n, err := ReadRecord(data, &rec)
		if err != nil {
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("ReadRecord spans %d of %d bytes", n, len(data))
		}
		bl := NewBuilder(CodecNone)
		if err := bl.Add(rec.TimestampDelta, rec.Key, rec.Value, rec.Headers); err != nil {
			t.Fatal(err)
		}
		out, err := bl.Finish(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back Record
		if _, err := ReadRecord(out[HeaderSize:], &back); err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !sameBytes(back.Key, rec.Key) || !sameBytes(back.Value, rec.Value) || len(back.Headers) != len(rec.Headers) {
			t.Fatalf("record fields differ after a build")
		}
		for j := range back.Headers {
			if !bytes.Equal(back.Headers[j].Key, rec.Headers[j].Key) || !sameBytes(back.Headers[j].Value, rec.Headers[j].Value) {
				t.Fatalf("header %d differs after a build", j)
			}
		}
	})
}

// FuzzDecompress: any record section in any codec decompresses or fails
// with an error, never a panic, and never beyond the limit.
func FuzzDecompress(f *testing.F) {
	raw := kmsgBatch(f, testProto(), someRecords(5))[HeaderSize:]
	for _, c := range allCodecs {
		comp, err := Compress(c, raw, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(c), comp, uint16(len(raw)))
		f.Add(byte(c), comp, uint16(len(raw)/2))
	}
	f.Fuzz(func(t *testing.T, codec byte, section []byte, limit uint16) {
		b := make([]byte, HeaderSize, HeaderSize+len(section))
		b = append(b, section...)
		h := Header{Length: int32(minLength + len(section)), Attributes: int16(codec % 8)}
		out, err := DecompressLimit(h, b, nil, int(limit))
		if err == nil && len(out) > int(limit) {
			t.Fatalf("%d bytes out under a limit of %d", len(out), limit)
		}
		if err == nil && h.Codec() != CodecNone {
			again, err := Compress(h.Codec(), out, nil)
			if err != nil {
				t.Fatalf("re-compress: %v", err)
			}
			b2 := append(make([]byte, HeaderSize), again...)
			h2 := Header{Length: int32(minLength + len(again)), Attributes: h.Attributes}
			back, err := DecompressLimit(h2, b2, nil, int(limit))
			if err != nil || !bytes.Equal(back, out) {
				t.Fatalf("compress round trip: %v", err)
			}
		}
	})
}
