package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// benchN is the backlog size: 1M messages, 100k under -short.
func benchN() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

const benchParts = 4

var benchValue = make([]byte, 100)

// fillBus publishes n keyed 100-byte messages to a fresh memory bus.
func fillBus(b *testing.B, name string, n int) *core.Bus {
	b.Helper()
	bus := newBus(b, core.WithTopic(name, core.TopicConfig{Partitions: benchParts}), core.WithDedup(0, 0))
	batch := make([]*core.Message, 0, 1000)
	for i := range n {
		batch = append(batch, &core.Message{Topic: name, Key: fmt.Appendf(nil, "k%d", i%64), Value: benchValue})
		if len(batch) == cap(batch) || i == n-1 {
			if err := bus.PublishBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return bus
}

// BenchmarkForwardDrain measures how fast the forwarder drains a backlog
// of benchN messages into kfake, against kgo producing the same records
// (same keys, values and onexbus headers) directly, in the same run.
func BenchmarkForwardDrain(b *testing.B) {
	n := benchN()
	b.Run("forwarder", func(b *testing.B) {
		var total time.Duration
		round := 0
		for b.Loop() {
			b.StopTimer()
			c, _ := newCluster(b)
			cfg := testConfig(b, c)
			name := fmt.Sprintf("bench.fwd.%d", round)
			round++
			bus := fillBus(b, name, n)
			f, err := NewForwarder(bus, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if err := f.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			waitFor(b, 10*time.Minute, "backlog drained", func() bool { return f.Backlog() == 0 })
			total += time.Since(start)
			b.StopTimer()
			if err := f.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			c.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "msgs/s")
	})
	b.Run("kgo-direct", func(b *testing.B) {
		var total time.Duration
		h := core.Headers{}
		h.ApplyDefaults("bench", "bench", time.Now())
		for b.Loop() {
			b.StopTimer()
			c, _ := newCluster(b, kfake.SeedTopics(benchParts, "bench.direct"))
			cfg := testConfig(b, c)
			opts, err := cfg.ClientOptions()
			if err != nil {
				b.Fatal(err)
			}
			cl, err := kgo.NewClient(append(opts, kgo.MaxBufferedRecords(16_000))...)
			if err != nil {
				b.Fatal(err)
			}
			recs := make([]*kgo.Record, n)
			for i := range recs {
				hs := h.AppendRecordHeaders(nil)
				kh := make([]kgo.RecordHeader, len(hs))
				for j, x := range hs {
					kh[j] = kgo.RecordHeader{Key: x.Key, Value: x.Value}
				}
				recs[i] = &kgo.Record{Topic: "bench.direct", Key: fmt.Appendf(nil, "k%d", i%64), Value: benchValue, Headers: kh}
			}
			b.StartTimer()
			start := time.Now()
			for _, r := range recs {
				cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			b.StopTimer()
			cl.Close()
			c.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "msgs/s")
	})
}

// BenchmarkIngest measures ingest of benchN records from kfake into a
// memory bus.
func BenchmarkIngest(b *testing.B) {
	n := benchN()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		c, _ := newCluster(b, kfake.SeedTopics(benchParts, "bench.ingest"))
		cfg := testConfig(b, c)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MaxBufferedRecords(16_000))
		if err != nil {
			b.Fatal(err)
		}
		h := core.Headers{}
		h.ApplyDefaults("bench", "bench", time.Now())
		for i := range n {
			h.MessageID[0], h.MessageID[1], h.MessageID[2] = byte(i), byte(i>>8), byte(i>>16)
			hs := h.AppendRecordHeaders(nil)
			kh := make([]kgo.RecordHeader, len(hs))
			for j, x := range hs {
				kh[j] = kgo.RecordHeader{Key: x.Key, Value: x.Value}
			}
			cl.Produce(context.Background(), &kgo.Record{Topic: "bench.ingest", Key: fmt.Appendf(nil, "k%d", i%64), Value: benchValue, Headers: kh}, nil)
		}
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		cl.Close()
		bus := newBus(b, core.WithDedup(0, 0))
		in, err := NewIngest(bus, cfg, []string{"bench.ingest"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := in.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 10*time.Minute, "ingested", func() bool {
			var sum int64
			for p := range int32(benchParts) {
				e, _ := bus.EndOffset("bench.ingest", p)
				sum += e
			}
			return sum == int64(n)
		})
		total += time.Since(start)
		b.StopTimer()
		if err := in.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "msgs/s")
}

// BenchmarkReadBatch is the forwarder's own cost per record, without
// Kafka: reading a 2,000-message batch of a memory bus (256-byte values,
// the bus's default headers: what BenchmarkKafka's onexbus-fwd row
// forwards) into kgo records, with their header encoding, and releasing
// it. The kgo Produce of each record and everything after it are not in
// it.
func BenchmarkReadBatch(b *testing.B) {
	const n, limit = 200_000, 2000
	bus := newBus(b, core.WithTopic(topic, core.TopicConfig{Partitions: 1}))
	value := make([]byte, 256)
	batch := make([]*core.Message, 0, 1000)
	for i := range n {
		batch = append(batch, &core.Message{Topic: topic, Value: value})
		if len(batch) == cap(batch) || i == n-1 {
			if err := bus.PublishBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	c, _ := newCluster(b)
	f, err := NewForwarder(bus, testConfig(b, c))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(context.Background())
	k := tpKey{topic, 0}
	b.ReportAllocs()
	cpu := cpuTime()
	recs := 0
	next := int64(0)
	for b.Loop() {
		fb, err := f.readBatch(k, next, limit)
		if err != nil || fb == nil {
			b.Fatalf("read at %d: %v, %v", next, fb, err)
		}
		recs += len(fb.recs)
		next = fb.end % n
		fb.release()
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(recs), "cpu-ns/record")
}
