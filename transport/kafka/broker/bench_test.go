package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchRecords per operation: kgo's defaults (snappy, idempotent,
// acks=all, 10ms linger), 100-byte pseudo-random values, 64 keys, 4
// partitions, as research/kafka-broker.md §2.2 measured.
const (
	benchRecords    = 100_000
	benchPartitions = 4
)

// benchTargets are the two brokers kgo talks to in the same run: onexbusd's
// broker on a bbolt bus with fsync'd group commits, and kfake in process.
func benchTargets(b *testing.B) map[string]string {
	b.Helper()
	tb := startBroker(b)
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(benchPartitions))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fake.Close)
	return map[string]string{"onexbus": tb.addr, "kfake": fake.ListenAddrs()[0]}
}

func benchValues() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([][]byte, 1024)
	for i := range vals {
		v := make([]byte, 100)
		for j := range v {
			v[j] = byte('a' + r.IntN(26))
		}
		vals[i] = v
	}
	return vals
}

func benchProduceN(b *testing.B, cl *kgo.Client, topic string, n int, vals [][]byte) {
	ctx := context.Background()
	errs := make(chan error, 1)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i%64), Value: vals[i%len(vals)]}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func benchTopic(b *testing.B, addr, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := createTopicsReq(topic, benchPartitions, 1)
	if _, err := req.RequestWith(ctx, cl); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKgoProduce: records/s kgo produces (acks=all; onexbus answers
// after the fsync) to the broker and to kfake, same run.
func BenchmarkKgoProduce(b *testing.B) {
	targets := benchTargets(b)
	vals := benchValues()
	for _, name := range []string{"kfake", "onexbus"} {
		b.Run(name, func(b *testing.B) {
			topic := fmt.Sprintf("bench-produce-%d", rand.Int())
			benchTopic(b, targets[name], topic)
			cl, err := kgo.NewClient(kgo.SeedBrokers(targets[name]))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				benchProduceN(b, cl, topic, benchRecords, vals)
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkKgoConsume: records/s a fresh kgo consumer reads from the
// start of a topic holding benchRecords, broker vs kfake, same run.
func BenchmarkKgoConsume(b *testing.B) {
	targets := benchTargets(b)
	vals := benchValues()
	for _, name := range []string{"kfake", "onexbus"} {
		b.Run(name, func(b *testing.B) {
			topic := fmt.Sprintf("bench-consume-%d", rand.Int())
			benchTopic(b, targets[name], topic)
			prod, err := kgo.NewClient(kgo.SeedBrokers(targets[name]))
			if err != nil {
				b.Fatal(err)
			}
			benchProduceN(b, prod, topic, benchRecords, vals)
			prod.Close()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				cl, err := kgo.NewClient(kgo.SeedBrokers(targets[name]), kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				for n := 0; n < benchRecords; {
					fs := cl.PollFetches(ctx)
					if err := fs.Err0(); err != nil {
						b.Fatal(err)
					}
					n += fs.NumRecords()
				}
				cancel()
				cl.Close()
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
		})
	}
}
