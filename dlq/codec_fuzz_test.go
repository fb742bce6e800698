package dlq_test

import (
	"errors"
	"testing"

	"github.com/onexbus/onexbus/dlq"
)

// FuzzDecodeLetter checks the decoder's invariants on any stored value:
// it never panics, every failure is ErrCorrupt or ErrUnsupportedVersion
// (a *CorruptError naming the id), and whatever decodes re-encodes to a
// value that decodes to the same letter. Each input is tried as a whole
// stored value and, sealed with a valid checksum, as a body, so the
// fuzzer gets past the CRC into the msgpack decoder.
func FuzzDecodeLetter(f *testing.F) {
	for i, l := range []*dlq.Letter{letter("orders", "billing", 1), {Topic: "t"}, {Topic: "t", Key: []byte{}, Headers: []dlq.Header{}}} {
		v, err := dlq.EncodeLetter(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
		f.Add(v[5:]) // the body alone, sealed below
		if i == 0 {
			f.Add(v[:len(v)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0xdc, 0xff, 0xff})          // array16 of 65535 fields
	f.Add([]byte{0x9d, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x01}) // bin32 of 4 GiB
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range [][]byte{data, dlq.SealBody(data)} {
			l, err := dlq.DecodeLetter(7, v)
			if err != nil {
				var ce *dlq.CorruptError
				if errors.As(err, &ce) && ce.ID != 7 {
					t.Fatalf("CorruptError names id %d, want 7", ce.ID)
				}
				if !errors.Is(err, dlq.ErrCorrupt) && !errors.Is(err, dlq.ErrUnsupportedVersion) {
					t.Fatalf("error %v is neither ErrCorrupt nor ErrUnsupportedVersion", err)
				}
				continue
			}
			if l.ID != 7 {
				t.Fatalf("decoded id %d, want 7", l.ID)
			}
			again, err := dlq.EncodeLetter(&l)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			l2, err := dlq.DecodeLetter(7, again)
			if err != nil {
				t.Fatalf("re-encoded letter does not decode: %v", err)
			}
			if !sameLetter(l, l2) {
				t.Fatalf("round trip changed the letter:\n%+v\n%+v", l, l2)
			}
		}
	})
}
