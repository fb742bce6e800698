package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkKgoTxnProduce: records/s kgo produces to the broker as an
// idempotent producer (kgo's default) and as a transactional one
// committing every txnBatch records (one EndTxn: markers on the 4
// partitions, durable), same broker, same run. Each operation is
// benchRecords records. One untimed idempotent operation first warms the
// broker and its store (connections, the bbolt file's first growth), so
// that the first sub-benchmark, idempotent, does not pay for all three.
func BenchmarkKgoTxnProduce(b *testing.B) {
	tb := startBroker(b)
	vals := benchValues()
	warm, err := kgo.NewClient(kgo.SeedBrokers(tb.addr))
	if err != nil {
		b.Fatal(err)
	}
	benchTopic(b, tb.addr, "bench-txn-warmup")
	benchProduceN(b, warm, "bench-txn-warmup", benchRecords, vals)
	warm.Close()
	for _, tc := range []struct {
		name  string
		every int // records per transaction; 0: idempotent, no transactions
	}{{"idempotent", 0}, {"txn-10000", 10_000}, {"txn-1000", 1_000}} {
		b.Run(tc.name, func(b *testing.B) {
			topic := fmt.Sprintf("bench-txn-%d", rand.Int())
			benchTopic(b, tb.addr, topic)
			opts := []kgo.Opt{kgo.SeedBrokers(tb.addr)}
			if tc.every > 0 {
				opts = append(opts, kgo.TransactionalID(topic))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if tc.every == 0 {
					benchProduceN(b, cl, topic, benchRecords, vals)
					continue
				}
				for n := 0; n < benchRecords; n += tc.every {
					if err := cl.BeginTransaction(); err != nil {
						b.Fatal(err)
					}
					benchProduceN(b, cl, topic, tc.every, vals)
					if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "msgs/s") // records/s (the harness's unit)
		})
	}
}
