package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka"
	"github.com/onexbus/onexbus/transport/kafka/broker"
	"github.com/onexbus/onexbus/transport/memory"
)

// wireInstance is a Kafka endpoint driven over the wire by kgo, as a
// Kafka application would: a producer with transport/kafka's default
// client options (acks=all, idempotent, 5 ms linger) and, with a
// subscriber, a consumer of partition 0 from its start. publish hands
// the record to the producer (Produce: kgo batches it) and returns;
// flush waits for every acknowledgement. The endpoint is kfake (kgo's
// in-process one-broker Kafka, in memory) or onexbusd's Kafka broker
// (transport/kafka/broker, in this process on 127.0.0.1) on a memory bus
// or on bbolt with the sync policy, so that the rows differ only in the
// broker.
type wireInstance struct {
	topic  string
	prod   *kgo.Client
	cons   *kgo.Client
	wg     sync.WaitGroup
	cancel context.CancelFunc
	// err is the first produce or consume error. An atomic, not a
	// mutex: every publish of the open loop's publishers reads it, and a
	// mutex there made them queue on each other (the harness's largest
	// lock wait in a mutex profile at 20,000 msgs/s), in both systems.
	err      atomic.Pointer[error]
	shutdown func() error // stops the endpoint
}

func openKgoKfake(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	c, _, err := newKfake(topic, true, true)
	if err != nil {
		return nil, err
	}
	return openWire(ctx, topic, c.ListenAddrs(), handled, func() error { c.Close(); return nil })
}

func openOnexbusdKafka(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	bus, err := memory.New(core.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		return nil, err
	}
	return openBrokerOn(ctx, bus, "", topic, handled, childRetention)
}

func openOnexbusdKafkaDurable(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	dir, err := os.MkdirTemp("", "onexbusd-bench-")
	if err != nil {
		return nil, err
	}
	bus, err := core.New(core.WithDataDir(dir), core.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return openBrokerOn(ctx, bus, dir, topic, handled, core.Retention{})
}

// openBrokerOn serves bus on a broker with onexbusd's topic format
// (Kafka record batches) and opens a wireInstance on it; dir, when set,
// is removed after the bus closes; the topic has retention r.
func openBrokerOn(ctx context.Context, bus *core.Bus, dir, topic string, handled func([]byte), r core.Retention) (instance, error) {
	closeBus := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		err := bus.Close(cctx)
		if dir != "" {
			err = errors.Join(err, os.RemoveAll(dir))
		}
		return err
	}
	if _, err := bus.CreateTopic(ctx, topic, core.TopicConfig{Partitions: 1, Format: core.FormatKafka, Retention: r}); err != nil {
		return nil, errors.Join(err, closeBus())
	}
	srv, err := broker.New(bus, broker.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		return nil, errors.Join(err, closeBus())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, closeBus())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		err := srv.Close(cctx)
		if serr := <-served; serr != nil && !errors.Is(serr, broker.ErrClosed) {
			err = errors.Join(err, serr)
		}
		return errors.Join(err, closeBus())
	}
	return openWire(ctx, topic, []string{ln.Addr().String()}, handled, stop)
}

func openWire(ctx context.Context, topic string, addrs []string, handled func([]byte), shutdown func() error) (_ instance, err error) {
	w := &wireInstance{topic: topic, shutdown: shutdown}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.close())
		}
	}()
	cfg, err := kafka.Defaults().With(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(addrs, ",")})
	if err != nil {
		return nil, err
	}
	opts, err := cfg.ClientOptions()
	if err != nil {
		return nil, err
	}
	if w.prod, err = kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic))...); err != nil {
		return nil, err
	}
	if handled == nil {
		return w, nil
	}
	if w.cons, err = kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Go(func() {
		for {
			fs := w.cons.PollFetches(cctx)
			if fs.IsClientClosed() || cctx.Err() != nil {
				return
			}
			fs.EachError(func(t string, p int32, err error) {
				w.fail(fmt.Errorf("consume %s[%d]: %w", t, p, err))
			})
			fs.EachRecord(func(r *kgo.Record) { handled(r.Value) })
		}
	})
	return w, nil
}

func (w *wireInstance) fail(err error) {
	w.err.CompareAndSwap(nil, &err)
}

func (w *wireInstance) firstErr() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *wireInstance) publish(ctx context.Context, payload []byte) error {
	if err := w.firstErr(); err != nil {
		return err
	}
	w.prod.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.fail(fmt.Errorf("produce: %w", err))
		}
	})
	return nil
}

func (w *wireInstance) write(ctx context.Context, payload []byte, n int) error {
	for range n {
		if err := w.publish(ctx, payload); err != nil {
			return err
		}
	}
	return w.flush(ctx)
}

func (w *wireInstance) flush(ctx context.Context) error {
	if err := w.prod.Flush(ctx); err != nil {
		return err
	}
	return w.firstErr()
}

func (w *wireInstance) close() error {
	if w.prod != nil {
		w.prod.Close()
	}
	if w.cancel != nil {
		w.cancel()
	}
	if w.cons != nil {
		w.cons.Close()
	}
	w.wg.Wait()
	var err error
	if w.shutdown != nil {
		err = w.shutdown()
	}
	return err
}

// BenchmarkWireRoundTrip measures one record at a time over the Kafka
// wire: Produce, Flush (sent at once, whatever the linger) and wait until
// the consumer of the same instance has it, then the next. It isolates
// the endpoint's own path (produce request, append, the parked fetch's
// wake-up, the fetch response) from batching and from the open-loop
// scheduler. p50-us and p99-us are of the whole trip (until both the ack
// and the record are in); ack-* of the send-to-acknowledgement times (the
// produce path: request, append, commit, response) and cons-* of the
// send-to-consume times (append, the parked fetch's wake-up, the fetch
// response), so that a slow tail is placed on one path. The endpoints are
// those of BenchmarkSystems' kafka class: onexbusd's broker on a memory
// bus and kfake.
func BenchmarkWireRoundTrip(b *testing.B) {
	for _, sys := range []struct {
		name string
		open func(context.Context, string, func([]byte)) (instance, error)
	}{{"onexbusd-kafka", openOnexbusdKafka}, {"kgo-kfake", openKgoKfake}} {
		b.Run("sys="+sys.name+"/size=256", func(b *testing.B) {
			ctx := context.Background()
			got := make(chan time.Time, 1)
			var ack, cons histogram
			inst, err := sys.open(ctx, "bench", func([]byte) { got <- time.Now() })
			if err != nil {
				b.Fatal(err)
			}
			w := inst.(*wireInstance)
			defer func() {
				if err := w.close(); err != nil {
					b.Error(err)
				}
			}()
			payload := make([]byte, 256)
			trip := func() time.Duration {
				t0 := time.Now()
				if err := w.publish(ctx, payload); err != nil {
					b.Fatal(err)
				}
				if err := w.flush(ctx); err != nil {
					b.Fatal(err)
				}
				ack.record(time.Since(t0))
				tc := <-got
				cons.record(tc.Sub(t0))
				return time.Since(t0)
			}
			trip() // the topic's metadata and both connections
			var h histogram
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				h.record(trip())
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
			b.ReportMetric(float64(h.quantile(0.50).Microseconds()), "p50-us")
			b.ReportMetric(float64(h.quantile(0.99).Microseconds()), "p99-us")
			b.ReportMetric(float64(ack.quantile(0.99).Microseconds()), "ack-p99-us")
			b.ReportMetric(float64(cons.quantile(0.99).Microseconds()), "cons-p99-us")
			b.ReportMetric(float64(ack.quantile(0.5).Microseconds()), "ack-p50-us")
			b.ReportMetric(float64(cons.quantile(0.5).Microseconds()), "cons-p50-us")
		})
	}
}

// BenchmarkWireOpenLoop runs BenchmarkSystems' open-loop measurement on
// the kafka class's endpoints in this process, at the class's equal
// offered rates (classRates: the report's r5000 and r20000 rows) for 2 s
// per iteration, so that -cpuprofile and -trace see one endpoint at one
// rate, without the peak and share-of-peak phases of the child. It
// reports the percentiles of the run (medians over iterations are
// benchstat's), the scheduler's lateness and cpu-ns/msg: the process's
// CPU (endpoint, kgo producer and consumer, scheduler) per message.
func BenchmarkWireOpenLoop(b *testing.B) {
	for _, rate := range classRates["kafka"] {
		for _, sys := range []struct {
			name string
			open func(context.Context, string, func([]byte)) (instance, error)
		}{{"onexbusd-kafka", openOnexbusdKafka}, {"kgo-kfake", openKgoKfake}} {
			b.Run(fmt.Sprintf("sys=%s/rate=%.0f", sys.name, rate), func(b *testing.B) {
				ctx := context.Background()
				rec := &latencyRecorder{}
				inst, err := sys.open(ctx, "bench", rec.handled)
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := inst.close(); err != nil {
						b.Error(err)
					}
				}()
				if err := inst.publish(ctx, make([]byte, latencySize)); err != nil {
					b.Fatal(err)
				}
				if err := rec.waitReceived(1, drainTimeout); err != nil {
					b.Fatal(err)
				}
				const dur = 2 * time.Second
				var p50, p99, sched, cpu, n float64
				b.ResetTimer()
				for b.Loop() {
					c0 := cpuTime()
					lr, err := openLoop(ctx, inst, rec, fixedSenders(4), latencySize, rate, dur)
					if err != nil {
						b.Fatal(err)
					}
					cpu += float64(cpuTime() - c0)
					n += rate * dur.Seconds()
					p50, p99, sched = lr.P50, lr.P99, lr.SchedP99
				}
				b.ReportMetric(p50, "p50-us")
				b.ReportMetric(p99, "p99-us")
				b.ReportMetric(sched, "sched-p99-us")
				b.ReportMetric(cpu/n, "cpu-ns/msg")
			})
		}
	}
}
