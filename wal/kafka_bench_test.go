package wal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

// The Kafka path measured as the design note did (research/kafka-broker.md
// 2.2): the record batches kgo really sends, recorded from kfake, appended
// with fsync to a FormatKafka topic on bbolt (20 appends in flight, like 5
// requests x 4 partitions) and fetched back with ReadBatches, against kgo
// producing the same records to, and consuming them from, kfake in
// process. Figures are records/s; run with -count 3 and compare in one run.

const (
	kbRecords    = 200_000
	kbPartitions = 4
	kbInFlight   = 20
)

var kbCodecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"snappy", kgo.SnappyCompression()},
}

func kbRecordsOf(n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	value := make([]byte, 100)
	for i := range value {
		value[i] = byte(i*7 + 13)
	}
	for i := range recs {
		v := append([]byte(nil), value...)
		v[0], v[1] = byte(i), byte(i>>8)
		recs[i] = &kgo.Record{Topic: "t", Key: fmt.Appendf(nil, "key-%d", i%64), Value: v}
	}
	return recs
}

// kfakeProduce produces recs with kgo into a new in-process kfake cluster
// and returns the cluster (the caller closes it) and, if record is set,
// the batches kgo sent per partition in arrival order.
func kfakeProduce(tb testing.TB, codec kgo.CompressionCodec, recs []*kgo.Record, record bool) (*kfake.Cluster, [][][]byte) {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kbPartitions, "t"))
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	batches := make([][][]byte, kbPartitions)
	if record {
		c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			pr := req.(*kmsg.ProduceRequest)
			mu.Lock()
			defer mu.Unlock()
			for _, tp := range pr.Topics {
				for _, p := range tp.Partitions {
					batches[p.Partition] = append(batches[p.Partition], append([]byte(nil), p.Records...))
				}
			}
			return nil, nil, false
		})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchCompression(codec))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	for _, r := range recs {
		wg.Add(1)
		// A fresh record each time: kgo keeps state in the ones it sent.
		r = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				firstErr = err
				errMu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return c, batches
}

// appendKgoBatches appends every partition's batches to a new log on a
// bbolt file under PolicySync, kbInFlight at a time, and waits for all.
func appendKgoBatches(tb testing.TB, dir string, batches [][][]byte) *wal.Log {
	tb.Helper()
	st, err := bolt.Open(filepath.Join(dir, "wal.db"))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := wal.Open(st)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.CreateTopic("t", wal.TopicConfig{Partitions: kbPartitions, Format: wal.FormatKafka}); err != nil {
		tb.Fatal(err)
	}
	sem := make(chan struct{}, kbInFlight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	// Round-robin over partitions, in order within each, as a producer's
	// requests arrive.
	for i := 0; ; i++ {
		any := false
		for p := range kbPartitions {
			if i >= len(batches[p]) {
				continue
			}
			any = true
			sem <- struct{}{}
			wg.Add(1)
			err := l.AppendBatch(context.Background(), "t", int32(p), batches[p][i], func(r wal.BatchResult) {
				if r.Err != nil {
					mu.Lock()
					firstErr = r.Err
					mu.Unlock()
				}
				<-sem
				wg.Done()
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
		if !any {
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	tb.Cleanup(func() {
		_ = l.Close(context.Background())
		_ = st.Close()
	})
	return l
}

func BenchmarkKafkaBatches(b *testing.B) {
	recs := kbRecordsOf(kbRecords)
	for _, cc := range kbCodecs {
		c, batches := kfakeProduce(b, cc.codec, recs, true)
		c.Close()
		n := 0
		for _, bs := range batches {
			n += len(bs)
		}
		b.Run(cc.name+"/wal-append-fsync", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				appendKgoBatches(b, dir, batches)
			}
			b.ReportMetric(float64(kbRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(n), "batches")
		})
		b.Run(cc.name+"/wal-read", func(b *testing.B) {
			l := appendKgoBatches(b, b.TempDir(), batches)
			buf := make([]byte, 0, 1<<20)
			for b.Loop() {
				for p := range int32(kbPartitions) {
					for from := int64(0); ; {
						out, next, err := l.ReadBatches(context.Background(), "t", p, from, 1<<20, buf[:0])
						if err != nil {
							b.Fatal(err)
						}
						if next == from {
							break
						}
						buf, from = out, next
					}
				}
			}
			b.ReportMetric(float64(kbRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(cc.name+"/kfake-produce", func(b *testing.B) {
			for b.Loop() {
				c, _ := kfakeProduce(b, cc.codec, recs, false)
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(kbRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(cc.name+"/kfake-consume", func(b *testing.B) {
			c, _ := kfakeProduce(b, cc.codec, recs, false)
			defer c.Close()
			for b.Loop() {
				cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for got < kbRecords {
					fs := cl.PollFetches(context.Background())
					if err := fs.Err0(); err != nil {
						b.Fatal(err)
					}
					got += fs.NumRecords()
				}
				cl.Close()
			}
			b.ReportMetric(float64(kbRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
