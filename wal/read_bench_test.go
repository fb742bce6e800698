package wal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// BenchmarkReadNewest is a reader that keeps up: each read takes the one
// record at the end of a partition, from the queued tail (1,000 records
// in 10 chunks, nothing committed), from a memory store and from a bbolt
// file (committed chunks of 100). A read costs what it reads, not the
// length of the tail or chunk before it: no CRC of frames it passes
// over, none of queued frames or of a memory store's.
func BenchmarkReadNewest(b *testing.B) {
	ctx := context.Background()
	payload := make([]byte, 400)
	for _, where := range []string{"tail", "memory", "bolt"} {
		b.Run("from="+where, func(b *testing.B) {
			var st store.Store = memstore.New()
			opts := []wal.Option{wal.WithChunk(100, 1<<20)}
			switch where {
			case "tail":
				// An interval no benchmark reaches: every record stays queued.
				opts = append(opts, wal.WithPolicy(wal.PolicyInterval, time.Hour))
			case "bolt":
				var err error
				if st, err = bolt.Open(b.TempDir() + "/b.db"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = st.Close() })
			}
			l, err := wal.Open(st, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close(ctx) })
			if _, err := l.CreateTopic("t", wal.TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			const n = 1000
			for i := range n / 100 {
				recs := make([]wal.Record, 100)
				for j := range recs {
					recs[j] = wal.Record{Timestamp: int64(i*100 + j), Payload: payload}
				}
				if err := l.Append(ctx, "t", 0, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				from := int64(n - 1 - i%10)
				i++
				got := 0
				if _, err := l.Read(ctx, "t", 0, from, 1, func(e *wal.Entry) error {
					got += len(e.Payload)
					return nil
				}); err != nil || got != len(payload) {
					b.Fatal(fmt.Sprint(got, err))
				}
			}
		})
	}
}
