package wal

import (
	"bytes"
	"testing"
)

// FuzzCursorValue: decoding a stored cursor never panics; a value that
// decodes as version 2 re-encodes to the same bytes under its key, and a
// proper prefix of it never decodes.
func FuzzCursorValue(f *testing.F) {
	key := encodeCursorKey(cursorKey{group: "g", topic: "t", part: 3})
	f.Add(key, encodeCursorValue(key, CursorValue{Offset: 42, LeaderEpoch: 7, Metadata: "meta", CommitTime: 1_700_000_000_000}))
	f.Add(key, encodeCursorValue(key, CursorValue{LeaderEpoch: -1}))
	f.Add(key, []byte{0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, key, b []byte) {
		v, reason := decodeCursorValue(key, b)
		if reason != "" || len(b) == 8 {
			return
		}
		if again := encodeCursorValue(key, v); !bytes.Equal(again, b) {
			t.Fatalf("%+v re-encodes to %x, was %x", v, again, b)
		}
		for cut := range len(b) {
			if cut == 8 {
				continue // a version-1 value
			}
			if _, r := decodeCursorValue(key, b[:cut]); r == "" {
				t.Fatalf("a %d-byte prefix of a %d-byte value decodes", cut, len(b))
			}
		}
	})
}

// FuzzProducerWindow: decoding a stored producer window never panics; a
// window that decodes re-encodes to the same bytes and holds 1 to 5
// batches.
func FuzzProducerWindow(f *testing.F) {
	key := producerKey(producerPrefix("t", 1), 5)
	w := &producerWindow{epoch: 2, lastAt: 99, n: 3}
	w.batches[0] = seqBatch{first: 0, last: 1, base: 10}
	w.batches[1] = seqBatch{first: 2, last: 2, base: 12}
	w.batches[2] = seqBatch{first: 3, last: 9, base: 13}
	f.Add(key, encodeProducerWindow(key, w))
	f.Add(key, []byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, key, b []byte) {
		w, reason := decodeProducerWindow(key, b)
		if reason != "" {
			return
		}
		if w.n < 1 || w.n > producerWindowSize {
			t.Fatalf("%d batches decoded", w.n)
		}
		if again := encodeProducerWindow(key, w); !bytes.Equal(again, b) {
			t.Fatalf("%+v re-encodes to %x, was %x", w, again, b)
		}
	})
}
