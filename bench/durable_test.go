package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
)

// A batchWriter is an instance with its own way of writing many messages
// at once (a batch API, or a raw store's transaction). write stores n
// messages carrying payload and returns once they are all durable under
// the system's policy; it is called from several goroutines at once.
// Instances without it write by calling publish n times.
type batchWriter interface {
	write(ctx context.Context, payload []byte, n int) error
}

// durableBatch is how many records go in one write of the batch systems:
// one fsync'd bbolt Update, one PublishBatch.
const durableBatch = 1000

// durablePeers are the systems of BenchmarkDurable, in report column
// order: each stores on local disk and Publish returns once the message
// is written under the system's sync policy.
var durablePeers = []peer{
	{name: "onexbus", open: openOnexbusDurable},
	{name: "onexbus-async", open: openOnexbusAsync},
	{name: "onexbus-batch", open: openOnexbusBatch},
	{name: "bbolt-key", open: openBboltKey},
	{name: "bbolt-chunk", open: openBboltChunk},
	{name: "jetstream", open: openJetStream},
	{name: "jetstream-syncalways", open: openJetStreamSyncAlways},
}

// durablePublishers are the publisher counts of BenchmarkDurable: one,
// where every message waits for its own fsync, and many, where a system
// that group-commits shares one fsync between them.
var durablePublishers = []int{1, 16}

// BenchmarkDurable measures durable publish throughput: pubs goroutines
// each publishing synchronously (the batch systems write durableBatch
// records per call), no subscriber, a fresh store in a temporary
// directory per run. The system loop is innermost so that the systems of
// one case run back to back.
func BenchmarkDurable(b *testing.B) {
	for _, pubs := range durablePublishers {
		for _, size := range sizes {
			for _, p := range durablePeers {
				b.Run(fmt.Sprintf("sys=%s/pubs=%d/size=%d", p.name, pubs, size), func(b *testing.B) {
					benchWrite(b, p, pubs, size)
				})
			}
		}
	}
}

// benchWrite times b.N messages written by pubs goroutines into a fresh
// instance of p with no subscriber.
func benchWrite(b *testing.B, p peer, pubs, size int) { benchWriteWarm(b, p, pubs, size, 0) }

// benchWriteWarm is benchWrite with warm messages written the same way
// before the clock starts.
func benchWriteWarm(b *testing.B, p peer, pubs, size, warm int) {
	ctx := context.Background()
	inst, err := p.open(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := inst.close(); err != nil {
			b.Error(err)
		}
	}()
	payload := make([]byte, size)
	// Create the topic or stream before the clock starts.
	if err := inst.publish(ctx, payload); err != nil {
		b.Fatal(err)
	}
	if warm > 0 {
		if err := writeN(ctx, inst, payload, warm, pubs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu := cpuTime()
	if err := writeN(ctx, inst, payload, b.N, pubs); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
}

// writeN writes n messages from pubs goroutines, as evenly as they
// divide, and returns the first error.
func writeN(ctx context.Context, inst instance, payload []byte, n, pubs int) error {
	var wg sync.WaitGroup
	errs := make([]error, pubs)
	for i := range pubs {
		k := n / pubs
		if i < n%pubs {
			k++
		}
		wg.Go(func() {
			if bw, ok := inst.(batchWriter); ok {
				errs[i] = bw.write(ctx, payload, k)
				return
			}
			for range k {
				if err := inst.publish(ctx, payload); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// onexbusDurable is onexbus on bbolt (core.New(core.WithDataDir(dir))
// with its defaults: the sync policy, Publish returns after the fsync
// of the group commit that holds the message).
type onexbusDurable struct {
	onexbusInstance
	dir string
}

func openOnexbusDurable(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	dir, err := os.MkdirTemp("", "onexbus-bench-")
	if err != nil {
		return nil, err
	}
	bus, err := core.New(core.WithDataDir(dir))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	o := &onexbusDurable{onexbusInstance: onexbusInstance{bus: bus, topic: topic}, dir: dir}
	if handled != nil {
		if _, err := bus.Subscribe(ctx, topic, "bench", func(_ context.Context, m *core.Message) error {
			handled(m.Value)
			return nil
		}); err != nil {
			o.close()
			return nil, err
		}
	}
	return o, nil
}

func (o *onexbusDurable) close() error {
	err := o.onexbusInstance.close()
	if rerr := os.RemoveAll(o.dir); err == nil {
		err = rerr
	}
	return err
}

// onexbusBatch is onexbusDurable written with core's PublishBatch,
// durableBatch messages per call: one group commit per batch, the bus's
// ceiling next to raw bbolt's.
type onexbusBatch struct{ *onexbusDurable }

func openOnexbusBatch(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	inst, err := openOnexbusDurable(ctx, topic, handled)
	if err != nil {
		return nil, err
	}
	return onexbusBatch{inst.(*onexbusDurable)}, nil
}

func (o onexbusBatch) write(ctx context.Context, payload []byte, n int) error {
	for n > 0 {
		k := min(n, durableBatch)
		// Fresh messages per batch: the bus may keep them.
		msgs := make([]core.Message, k)
		ptrs := make([]*core.Message, k)
		for i := range k {
			msgs[i] = core.Message{Topic: o.topic, Value: payload}
			ptrs[i] = &msgs[i]
		}
		if err := o.bus.PublishBatch(ctx, ptrs); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// closeTimeout bounds every instance's close.
const closeTimeout = 30 * time.Second
