package kbatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kgoBatches produces recs with kgo into an in-process kfake cluster and
// returns the record batches kgo really sent, as recorded by a Produce
// control hook, in arrival order.
func kgoBatches(t testing.TB, codec kgo.CompressionCodec, recs []*kgo.Record) [][]byte {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var batches [][]byte
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range pr.Topics {
			for _, p := range tp.Partitions {
				batches = append(batches, append([]byte(nil), p.Records...))
			}
		}
		return nil, nil, false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
		kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return batches
}

// kgoRecords returns n records with keys, values and headers of several
// shapes (null key, empty value, repeated and null-valued headers).
func kgoRecords(n int) []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := &kgo.Record{Value: fmt.Appendf(nil, "value %d %s", i, string(make([]byte, i%200))), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		if i%3 != 0 {
			r.Key = fmt.Appendf(nil, "k%d", i%7)
		}
		if i%2 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "message_id", Value: fmt.Appendf(nil, "id-%d", i)}, {Key: "dup", Value: []byte("1")}, {Key: "dup", Value: nil}}
		}
		recs[i] = r
	}
	return recs
}

// kgoCodecs are the codecs kgo produces with, by our Codec.
var kgoCodecs = []struct {
	codec Codec
	kgo   kgo.CompressionCodec
}{
	{CodecNone, kgo.NoCompression()},
	{CodecGzip, kgo.GzipCompression()},
	{CodecSnappy, kgo.SnappyCompression()},
	{CodecLZ4, kgo.Lz4Compression()},
	{CodecZstd, kgo.ZstdCompression()},
}

// TestKgoBatchesValidateAndWalk is the cross-check with franz-go: what kgo
// really sends, in every codec, passes Validate with decompression, and
// ForEachRecord yields exactly the records produced (keys, values, headers
// with repeats and nulls, timestamps).
func TestKgoBatchesValidateAndWalk(t *testing.T) {
	for _, tc := range kgoCodecs {
		t.Run(tc.codec.String(), func(t *testing.T) {
			recs := kgoRecords(300)
			batches := kgoBatches(t, tc.kgo, recs)
			if len(batches) == 0 {
				t.Fatal("no batches recorded")
			}
			next := 0
			var scratch []byte
			for bi, b := range batches {
				h, err := Validate(b, ValidateOptions{Decompress: true, Scratch: &scratch})
				if err != nil {
					t.Fatalf("batch %d: %v", bi, err)
				}
				if h.Codec() != tc.codec {
					t.Fatalf("batch %d codec %v, want %v", bi, h.Codec(), tc.codec)
				}
				if h.ProducerID < 0 {
					t.Fatalf("kgo is idempotent by default; producer id %d", h.ProducerID)
				}
				section, err := Decompress(h, b, nil)
				if err != nil {
					t.Fatal(err)
				}
				err = ForEachRecord(h, section, func(r *Record) error {
					want := recs[next]
					next++
					if string(r.Key) != string(want.Key) || (r.Key == nil) != (want.Key == nil) {
						return fmt.Errorf("record %d key %q, want %q", next-1, r.Key, want.Key)
					}
					if string(r.Value) != string(want.Value) {
						return fmt.Errorf("record %d value differs", next-1)
					}
					if ts := r.Timestamp(&h); ts != want.Timestamp.UnixMilli() {
						return fmt.Errorf("record %d timestamp %d, want %d", next-1, ts, want.Timestamp.UnixMilli())
					}
					if len(r.Headers) != len(want.Headers) {
						return fmt.Errorf("record %d: %d headers, want %d", next-1, len(r.Headers), len(want.Headers))
					}
					for i, hd := range r.Headers {
						w := want.Headers[i]
						if string(hd.Key) != w.Key || string(hd.Value) != string(w.Value) || (hd.Value == nil) != (w.Value == nil) {
							return fmt.Errorf("record %d header %d = %q:%q, want %q:%q", next-1, i, hd.Key, hd.Value, w.Key, w.Value)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", bi, err)
				}
			}
			if next != len(recs) {
				t.Fatalf("walked %d records, produced %d", next, len(recs))
			}
		})
	}
}
