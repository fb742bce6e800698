package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka"
)

// kafkaPeers are the systems of BenchmarkKafka: a producer to kfake (an
// in-process one-broker Kafka) on 127.0.0.1. Every client is built from
// transport/kafka's default Config (acks=all, idempotent, 5 ms linger),
// so the rows differ only in the path. kafkaForwarderPeer adds the
// forwarder where it is built.
var kafkaPeers = []peer{
	{name: "kgo-async", open: openKgoAsync},
	{name: "kgo-async-hdrs", open: openKgoAsyncHeaders},
	{name: "kgo-async-hdrs-shared", open: openKgoAsyncHeadersShared},
	{name: "kgo-async-compact", open: openKgoAsyncCompact},
	{name: "kgo-sync", open: openKgoSync},
}

// kafkaForwarderPeers go first in BenchmarkKafka's columns: onexbus
// through its Kafka forwarder is the subject there. forwarder_test.go
// (build tag forwarder) adds it.
var kafkaForwarderPeers []peer

// BenchmarkKafka measures producing to kfake: pubs goroutines, no
// consumer, timed until Kafka has acknowledged every record. Every system
// first writes b.N messages the same way, untimed (kafkaWarm): the timed
// part is a process past its start, for every system of the row.
func BenchmarkKafka(b *testing.B) {
	all := append(append([]peer(nil), kafkaForwarderPeers...), kafkaPeers...)
	for _, pubs := range publisherCounts {
		for _, size := range sizes {
			for _, p := range all {
				b.Run(fmt.Sprintf("sys=%s/pubs=%d/size=%d", p.name, pubs, size), func(b *testing.B) {
					benchWriteWarm(b, p, pubs, size, kafkaWarm(b.N))
				})
			}
		}
	}
}

// kafkaWarmEnv set to 0 makes BenchmarkKafka time a fresh process's
// first messages, as before (kafkaWarm).
const kafkaWarmEnv = "ONEXBUS_BENCH_KAFKA_WARMUP"

// kafkaWarm is how many messages BenchmarkKafka writes before its clock
// starts: as many as it times (none with kafkaWarmEnv=0). A fresh process
// starts at a heap of a few MB, and a system whose heap grows with the
// messages (the memory bus keeps what it is given) ran its collector's
// first cycles, at a heap doubling each time, inside the timed part: the
// publish + forward row, consecutive 200,000-message segments of one
// process, 0.50M msgs/s in the first (8 cycles), 0.56-0.66M after (0-2).
// kgo's heap stays small either way; every system gets the same warm-up.
func kafkaWarm(n int) int {
	if os.Getenv(kafkaWarmEnv) == "0" {
		return 0
	}
	return n
}

// kfakeStoreEnv set to 1 makes the produce-only rows' kfake store what it
// is sent (kfakeStores), as every row's did before: the informational
// figures of make bench-report.
const kfakeStoreEnv = "ONEXBUS_BENCH_KFAKE_STORE"

// kfakeStores reports whether the produce-only rows (BenchmarkKafka,
// BenchmarkForwarderDrain, the kafka class's onexbus-fwd and kgo-async
// peaks) give kfake a store. By default they do not
// (kfake.BlackholeProduce: every produce is read, its sequence checked
// and acknowledged with its offset, and its bytes dropped): nothing reads
// those records back, and a kfake that keeps them keeps them in this
// process's heap, 0.7 KB (no headers) to 1.3 KB (the nine) a record,
// growing with the run. The collector then runs its first ten cycles
// inside a 200,000-message run, at a heap that doubles each time, and
// its cycle count in the timed part follows kfake's data, not the
// system's: rounds of one row swung 0.3x-1.9x. Without the store
// each system's heap is its own (the forwarder's backlog, kgo's buffers),
// as it would be beside a real broker in another process.
func kfakeStores() bool { return os.Getenv(kfakeStoreEnv) == "1" }

// newKfake starts a one-broker kfake on 127.0.0.1 with topic seeded
// (one partition) when seed is set, and returns it with a client Config
// for it. Without store the cluster drops what it is sent
// (kfake.BlackholeProduce): for rows nobody consumes from.
func newKfake(topic string, seed, store bool) (*kfake.Cluster, kafka.Config, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if seed {
		opts = append(opts, kfake.SeedTopics(1, topic))
	}
	if !store {
		opts = append(opts, kfake.BlackholeProduce())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, kafka.Config{}, err
	}
	cfg, err := kafka.Defaults().With(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(c.ListenAddrs(), ",")})
	if err != nil {
		c.Close()
		return nil, kafka.Config{}, err
	}
	return c, cfg, nil
}

// kgoInstance is a kgo client producing to kfake directly.
type kgoInstance struct {
	cluster *kfake.Cluster
	cl      *kgo.Client
	topic   string
	async   bool
	// headers are the template of every record's headers: kgo-async-hdrs
	// carries what the forwarder writes for a message with the bus's
	// defaults (its nine ONEX text headers), so that it produces the
	// forwarder's records, each with its own ids and timestamp
	// (headerMaker), unless shared.
	headers []kgo.RecordHeader
	// shared puts the template itself on every record (one message_id
	// for all): kgo-async-hdrs-shared, the reference before session 7.
	shared bool
}

// headerSource returns what gives each record of one producing goroutine
// its headers: nil (the template on every record) or a headerMaker.
func (k *kgoInstance) headerSource() *headerMaker {
	if k.shared || len(k.headers) == 0 {
		return nil
	}
	return newHeaderMaker(k.headers)
}

// recordHeaders are the headers of the next record from m (see
// headerSource) and what to give m.done after its promise.
func (k *kgoInstance) recordHeaders(m *headerMaker) ([]kgo.RecordHeader, *headerSlab) {
	if m == nil {
		return k.headers, nil
	}
	return m.next()
}

func openKgoSync(_ context.Context, topic string, _ func([]byte)) (instance, error) {
	return openKgo(topic, false)
}

func openKgoAsync(_ context.Context, topic string, _ func([]byte)) (instance, error) {
	return openKgo(topic, true)
}

// openKgoAsyncHeaders is kgo-async with the forwarder's headers on every
// record: those of a message published with the bus's defaults, encoded
// as the forwarder encodes them (message.Headers.AppendRecordHeaders),
// with each record's own message_id, correlation_id and timestamp.
func openKgoAsyncHeaders(_ context.Context, topic string, _ func([]byte)) (instance, error) {
	inst, err := openKgo(topic, true)
	if err != nil {
		return nil, err
	}
	var h core.Headers
	h.MessageID, h.CorrelationID = uuid.New(), uuid.New()
	h.ApplyDefaults(topic, "onexbus", time.Now())
	for _, x := range h.AppendRecordHeaders(nil) {
		inst.(*kgoInstance).headers = append(inst.(*kgoInstance).headers, kgo.RecordHeader{Key: x.Key, Value: x.Value})
	}
	return inst, nil
}

// openKgoAsyncHeadersShared is kgo-async-hdrs with one header set on
// every record (the same ids and timestamp 200,000 times): the reference
// of the forwarder's "same records" rows before session 7, which wrote
// no header of its own per record; an informational figure.
func openKgoAsyncHeadersShared(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	inst, err := openKgoAsyncHeaders(ctx, topic, handled)
	if err != nil {
		return nil, err
	}
	inst.(*kgoInstance).shared = true
	return inst, nil
}

// compactHeaders are the headers kafka.HeadersCompact leaves on a message
// with the bus's defaults: the rest are the values the reading side's
// ApplyDefaults fills in.
var compactHeaders = map[string]bool{
	core.HeaderCorrelationID: true, core.HeaderMessageID: true, core.HeaderTimestamp: true, core.HeaderSource: true,
}

// openKgoAsyncCompact is kgo-async with the headers the forwarder writes
// under kafka.HeadersCompact (four of the nine): the bound of the
// compact forwarder's row, as kgo-async-hdrs is the default's.
func openKgoAsyncCompact(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	inst, err := openKgoAsyncHeaders(ctx, topic, handled)
	if err != nil {
		return nil, err
	}
	k := inst.(*kgoInstance)
	k.headers = slices.DeleteFunc(k.headers, func(h kgo.RecordHeader) bool { return !compactHeaders[h.Key] })
	return k, nil
}

func openKgo(topic string, async bool) (instance, error) {
	c, cfg, err := newKfake(topic, true, kfakeStores())
	if err != nil {
		return nil, err
	}
	opts, err := cfg.ClientOptions()
	if err != nil {
		c.Close()
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &kgoInstance{cluster: c, cl: cl, topic: topic, async: async}, nil
}

// publish is ProduceSync: one record, returns with Kafka's ack (a
// per-record header peer makes a headerMaker for the call: publish is
// its warm-up call, write its loop).
func (k *kgoInstance) publish(ctx context.Context, payload []byte) error {
	return k.produceSync(ctx, payload, k.headerSource())
}

func (k *kgoInstance) produceSync(ctx context.Context, payload []byte, m *headerMaker) error {
	h, sl := k.recordHeaders(m)
	err := k.cl.ProduceSync(ctx, &kgo.Record{Value: payload, Headers: h}).FirstErr()
	if m != nil {
		m.done(sl)
	}
	return err
}

// write produces n records: kgo-sync one ProduceSync at a time, kgo-async
// with Produce (kgo batches them) and waits for every ack.
func (k *kgoInstance) write(ctx context.Context, payload []byte, n int) error {
	headers := k.headerSource()
	if !k.async {
		for range n {
			if err := k.produceSync(ctx, payload, headers); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	wg.Add(n)
	for range n {
		h, sl := k.recordHeaders(headers)
		k.cl.Produce(ctx, &kgo.Record{Value: payload, Headers: h}, func(_ *kgo.Record, err error) {
			if err != nil {
				first.CompareAndSwap(nil, &err)
			}
			if headers != nil {
				headers.done(sl)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

func (k *kgoInstance) close() error {
	k.cl.Close()
	k.cluster.Close()
	return nil
}
