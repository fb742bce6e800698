//go:build forwarder

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka"
	"github.com/onexbus/onexbus/transport/memory"
)

// This file needs transport/kafka's Forwarder: make bench-peers sets the
// forwarder build tag when transport/kafka/forwarder.go exists.

// A variable initializer, not init: every one runs before any init
// function, so child_test.go's init sees the forwarder.
var _ = func() bool {
	kafkaForwarderPeers = append(kafkaForwarderPeers, peer{name: "onexbus-fwd", open: openForwarder})
	return true
}()

// forwarderInstance is onexbus's memory bus with a kafka.Forwarder to
// kfake: publish is Bus.Publish (a local append), and write then
// waits until Kafka has acknowledged the last message it published
// (WaitAcked), so that the forwarding is timed. The memory bus keeps the
// row about the forwarder's cost, not the local disk's.
type forwarderInstance struct {
	cluster *kfake.Cluster
	bus     *core.Bus
	fwd     *kafka.Forwarder
	topic   string
}

func openForwarder(ctx context.Context, topic string, _ func([]byte)) (_ instance, err error) {
	c, cfg, err := newKfake(topic, false, kfakeStores())
	if err != nil {
		return nil, err
	}
	f := &forwarderInstance{cluster: c, topic: topic}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.bus, err = memory.New(); err != nil {
		return nil, err
	}
	// The topic exists before Start, which discovers it at once (later
	// topics wait for the next discovery round).
	if _, err = f.bus.CreateTopic(ctx, topic, core.TopicConfig{Partitions: 1}); err != nil {
		return nil, err
	}
	if f.fwd, err = kafka.NewForwarder(f.bus, cfg); err != nil {
		return nil, err
	}
	if err = f.fwd.Start(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *forwarderInstance) publish(ctx context.Context, payload []byte) error {
	off, err := publishValue(ctx, f.bus, f.topic, payload)
	if err != nil {
		return err
	}
	return f.fwd.WaitAcked(ctx, f.topic, 0, off)
}

func (f *forwarderInstance) write(ctx context.Context, payload []byte, n int) error {
	last := int64(-1)
	for range n {
		off, err := publishValue(ctx, f.bus, f.topic, payload)
		if err != nil {
			return err
		}
		last = max(last, off)
	}
	if last < 0 {
		return nil
	}
	return f.fwd.WaitAcked(ctx, f.topic, 0, last)
}

func (f *forwarderInstance) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var err error
	if f.fwd != nil {
		err = f.fwd.Close(ctx)
	}
	if f.bus != nil {
		if cerr := f.bus.Close(ctx); err == nil {
			err = cerr
		}
	}
	f.cluster.Close()
	return err
}

// BenchmarkForwarderDrain measures the forwarder alone: b.N messages of
// size bytes are in a memory bus before the clock starts (PublishBatch,
// 1,000 a call), then the timed part starts a Forwarder to kfake and
// waits until Kafka acknowledged the last one. Its reference is
// BenchmarkKafka's kgo-async-hdrs (kgo producing the same records: the
// forwarder's headers) and kgo-async (no headers), at pubs=1.
//
// sys=onexbus-fwd-compact is the same with kafka.HeadersCompact (an
// option: the default-valued headers left out).
func BenchmarkForwarderDrain(b *testing.B) {
	for _, sys := range []struct {
		name string
		enc  kafka.HeaderEncoding
	}{{"onexbus-fwd", kafka.HeadersText}, {"onexbus-fwd-compact", kafka.HeadersCompact}} {
		size := 256
		b.Run(fmt.Sprintf("sys=%s/size=%d", sys.name, size), func(b *testing.B) {
			ctx := context.Background()
			payload := make([]byte, size)
			c, cfg, err := newKfake("bench", false, kfakeStores())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			bus, err := memory.New()
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close(ctx)
			if _, err := bus.CreateTopic(ctx, "bench", core.TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			batch := make([]*core.Message, 0, durableBatch)
			for i := range b.N {
				batch = append(batch, &core.Message{Topic: "bench", Value: payload})
				if len(batch) == cap(batch) || i == b.N-1 {
					if err := bus.PublishBatch(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = make([]*core.Message, 0, durableBatch)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			cpu := cpuTime()
			fwd, err := kafka.NewForwarder(bus, cfg, kafka.WithHeaderEncoding(sys.enc))
			if err != nil {
				b.Fatal(err)
			}
			if err := fwd.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if err := fwd.WaitAcked(ctx, "bench", 0, int64(b.N-1)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
			if err := fwd.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestKgoPeersCarryForwarderHeaders: the kgo rows that bound the
// forwarder's (kgo-async-hdrs for the default text headers, and
// kgo-async-compact for kafka.HeadersCompact) carry the headers the
// forwarder writes for a message with the bus's defaults: the same keys
// in the same order, with values of the same length (the timestamp's
// varies by a few bytes), each record its own message_id and
// correlation_id (UUIDs) and timestamp, as the forwarder's; the old
// reference kgo-async-hdrs-shared the same headers on every record.
func TestKgoPeersCarryForwarderHeaders(t *testing.T) {
	for _, tc := range []struct {
		enc    kafka.HeaderEncoding
		open   func(context.Context, string, func([]byte)) (instance, error)
		shared bool
	}{{kafka.HeadersText, openKgoAsyncHeaders, false}, {kafka.HeadersCompact, openKgoAsyncCompact, false},
		{kafka.HeadersText, openKgoAsyncHeadersShared, true}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, cfg, err := newKfake("bench", true, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bus, err := memory.New()
		if err != nil {
			t.Fatal(err)
		}
		defer bus.Close(ctx)
		off, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		fwd, err := kafka.NewForwarder(bus, cfg, kafka.WithHeaderEncoding(tc.enc))
		if err != nil {
			t.Fatal(err)
		}
		if err := fwd.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := fwd.WaitAcked(ctx, "bench", 0, off); err != nil {
			t.Fatal(err)
		}
		if err := fwd.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("bench"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		fs := cl.PollRecords(ctx, 1)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		recs := fs.Records()
		if len(recs) != 1 {
			t.Fatalf("%d records forwarded, want 1", len(recs))
		}
		inst, err := tc.open(ctx, "bench", nil)
		if err != nil {
			t.Fatal(err)
		}
		k := inst.(*kgoInstance)
		m := k.headerSource()
		peer, _ := k.recordHeaders(m)
		second, _ := k.recordHeaders(m)
		_ = inst.close()
		for i := range peer {
			switch k := peer[i].Key; k {
			case core.HeaderMessageID, core.HeaderCorrelationID:
				if _, err := uuid.ParseBytes(peer[i].Value); err != nil {
					t.Errorf("encoding %d: %s %q: %v", tc.enc, k, peer[i].Value, err)
				}
				if same := string(peer[i].Value) == string(second[i].Value); same != tc.shared {
					t.Errorf("encoding %d, shared %v: %s of two records %q, %q", tc.enc, tc.shared, k, peer[i].Value, second[i].Value)
				}
			}
		}
		got := recs[0].Headers
		if len(got) != len(peer) {
			t.Fatalf("encoding %d: forwarder wrote %d headers, the kgo peer carries %d", tc.enc, len(got), len(peer))
		}
		for i := range got {
			if got[i].Key == core.HeaderTimestamp && peer[i].Key == got[i].Key {
				// RFC 3339 with the nanoseconds' trailing zeros left out:
				// its length varies from one instant to the next.
				_, errGot := time.Parse(time.RFC3339Nano, string(got[i].Value))
				_, errPeer := time.Parse(time.RFC3339Nano, string(peer[i].Value))
				if errGot != nil || errPeer != nil {
					t.Errorf("encoding %d: timestamps %q, %q", tc.enc, got[i].Value, peer[i].Value)
				}
				continue
			}
			if got[i].Key != peer[i].Key || len(got[i].Value) != len(peer[i].Value) {
				t.Errorf("encoding %d, header %d: forwarder %s (%d B), kgo peer %s (%d B)", tc.enc, i,
					got[i].Key, len(got[i].Value), peer[i].Key, len(peer[i].Value))
			}
		}
	}
}
