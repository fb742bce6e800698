package wal

import (
	"bytes"
	"testing"
)

// FuzzParseFrame: parsing never panics, a frame that parses re-encodes to
// the same bytes, and any damaged prefix is rejected or parses the same.
func FuzzParseFrame(f *testing.F) {
	f.Add(appendFrame(nil, &Record{Timestamp: 7, MessageID: [16]byte{1}, CorrelationID: [16]byte{2}, Payload: []byte("hello")}))
	f.Add(appendFrame(nil, &Record{}))
	f.Add([]byte{0, 0, 0, 40})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, reason := parseFrame(b)
		if reason != "" {
			if n != 0 {
				t.Fatalf("damaged frame consumed %d bytes", n)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("size %d out of range for %d bytes", n, len(b))
		}
		again := appendFrame(nil, &Record{Timestamp: fr.Timestamp, MessageID: fr.MessageID, CorrelationID: fr.CorrelationID, Payload: fr.Payload})
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs")
		}
		for cut := range n {
			if _, m, r := parseFrame(b[:cut]); r == "" {
				t.Fatalf("truncated frame (%d of %d bytes) parsed as %d bytes", cut, n, m)
			}
		}
	})
}
