package wal_test

import (
	"context"

	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// tsRecord is one record's offset and timestamp (ns) as the test wrote it.
type tsRecord struct{ off, ts int64 }

// bruteFirstAtOrAfter is OffsetForTime by definition.
func bruteFirstAtOrAfter(recs []tsRecord, ts, end int64) int64 {
	for _, r := range recs {
		if r.ts >= ts {
			return r.off
		}
	}
	return end
}

// Time lookups are per record and do not assume timestamps grow with
// offsets: OffsetForTime, ReadTime and MaxTimestamp agree with a brute
// force over every record, for frames and for Kafka batches (compressed
// and not), stored and queued.
func TestTimeLookupsPerRecordOutOfOrder(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, format := range []wal.Format{wal.FormatFrames, wal.FormatKafka} {
		for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyNone} {
			t.Run(format.String()+"/"+policy.String(), func(t *testing.T) {
				backends(t, func(t *testing.T, open func(*testing.T) store.Store) {
					l := openLog(t, open(t), wal.WithPolicy(policy, 0), wal.WithChunk(10, 1<<10))
					createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Format: format})
					var recs []tsRecord
					off := int64(0)
					// Timestamps in ms, jumping back and forth (a slow
					// publisher, an ingest backlog).
					tsms := func() int64 { return 1_000_000 + int64(rng.IntN(5000)) }
					for b := range 30 {
						n := 1 + rng.IntN(12)
						ts := make([]int64, n)
						for i := range ts {
							ts[i] = tsms()
						}
						if format == wal.FormatKafka {
							codec := []kbatch.Codec{kbatch.CodecNone, kbatch.CodecSnappy}[b%2]
							appendBatch(t, l, "t", 0, build(t, batchSpec{n: n, codec: codec, ts: func(i int) int64 { return ts[i] }}, "b"))
						} else {
							var rs []wal.Record
							for i := range ts {
								rs = append(rs, wal.Record{Timestamp: ts[i] * 1e6, Payload: []byte("x")})
							}
							if err := l.Append(context.Background(), "t", 0, rs); err != nil {
								t.Fatal(err)
							}
						}
						for i := range ts {
							recs = append(recs, tsRecord{off, ts[i] * 1e6})
							off++
						}
					}
					ctx := context.Background()
					for range 200 {
						q := (1_000_000 + int64(rng.IntN(5200)) - 100) * 1e6
						got, err := l.OffsetForTime(ctx, "t", 0, q)
						if err != nil {
							t.Fatal(err)
						}
						if want := bruteFirstAtOrAfter(recs, q, off); got != want {
							t.Fatalf("OffsetForTime(%d) = %d, want %d", q, got, want)
						}
						since := q
						until := q + int64(rng.IntN(2000))*1e6
						var in []int64
						err = l.ReadTime(ctx, "t", 0, since, until, func(e *wal.Entry) error {
							in = append(in, e.Offset)
							return nil
						})
						if err != nil {
							t.Fatal(err)
						}
						var want []int64
						for _, r := range recs {
							if r.ts >= since && r.ts < until {
								want = append(want, r.off)
							}
						}
						if !slices.Equal(in, want) {
							t.Fatalf("ReadTime [%d, %d): %d records, want %d", since, until, len(in), len(want))
						}
					}
					ts, at, err := l.MaxTimestamp(ctx, "t", 0)
					if err != nil {
						t.Fatal(err)
					}
					best := recs[0]
					for _, r := range recs {
						if r.ts > best.ts {
							best = r
						}
					}
					if ts != best.ts || at != best.off {
						t.Fatalf("MaxTimestamp = %d at %d, want %d at %d", ts, at, best.ts, best.off)
					}
				})
			})
		}
	}
}

// Kafka timestamps beyond what nanoseconds hold saturate instead of
// wrapping, so lookups keep their order; an empty partition has no max.
func TestKafkaTimestampsSaturate(t *testing.T) {
	l := openLog(t, memstore.New())
	createKafka(t, l, "k", 1)
	ctx := context.Background()
	if ts, off, err := l.MaxTimestamp(ctx, "k", 0); err != nil || ts != -1 || off != -1 {
		t.Fatalf("empty: %d %d %v", ts, off, err)
	}
	huge := int64(math.MaxInt64 / 1000) // year ~292 million in ms
	appendBatch(t, l, "k", 0, build(t, batchSpec{n: 3, ts: func(i int) int64 { return []int64{5, huge, -huge}[i] }}, "x"))
	var got []int64
	if _, err := l.Read(ctx, "k", 0, 0, 10, func(e *wal.Entry) error { got = append(got, e.Timestamp); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []int64{5e6, math.MaxInt64, math.MinInt64}; !slices.Equal(got, want) {
		t.Fatalf("timestamps %v, want %v", got, want)
	}
	if ts, off, err := l.MaxTimestamp(ctx, "k", 0); err != nil || ts != math.MaxInt64 || off != 1 {
		t.Fatalf("max: %d %d %v", ts, off, err)
	}
	if off, err := l.OffsetForTime(ctx, "k", 0, math.MaxInt64-1); err != nil || off != 1 {
		t.Fatalf("offset for a time past 2262: %d %v", off, err)
	}
}
