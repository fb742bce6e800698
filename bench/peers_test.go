package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An instance is one running system under test.
type instance interface {
	// publish sends one message carrying payload to the instance's topic.
	// It is called from several goroutines at once; payload is shared by
	// every call and must not be modified or retained past the call by
	// the benchmark's side (the system may keep it, as its Publish allows).
	publish(ctx context.Context, payload []byte) error
	// close stops the instance and returns after its goroutines exit.
	close() error
}

// A peer is one system in the comparison.
type peer struct {
	name string
	// open starts a fresh instance on topic with one subscriber (one
	// consumer, in a consumer group where the system has them) that calls
	// handled once for each message it has handled and acknowledged, from
	// any goroutine, with the message's payload (valid during the call).
	// A nil handled opens the instance with no subscriber.
	open func(ctx context.Context, topic string, handled func(payload []byte)) (instance, error)
}

// peers are the systems of the end-to-end comparison, in report column
// order. A new system is one file with its open func and a line here.
var peers = []peer{
	{name: "onexbus", open: openOnexbus},
	{name: "onexbus-readonly", open: openOnexbusReadOnly}, // informational: core.SubscribeReadOnly
	{name: "gochannel", open: openGoChannel},
	{name: "chan", open: openChan},
}

// publishPeers are the systems of BenchmarkPublish. GoChannel is not one:
// with no subscriber it discards the message, so there is no publish path
// to compare with a bus that stores it.
var publishPeers = []peer{
	{name: "onexbus", open: openOnexbus},
}

var (
	sizes           = []int{64, 256, 1024}
	publisherCounts = []int{1, 4}
)

// drainTimeout bounds the wait for the subscriber to catch up, so that a
// lost message fails the benchmark instead of hanging it.
const drainTimeout = 2 * time.Minute

// BenchmarkEndToEnd measures publish-to-handler throughput: pubs
// publishers, one subscriber, a fresh message per iteration, timed until
// the subscriber has handled and acknowledged all b.N. allocs/op are per
// message, both sides. The system loop is innermost so that the systems
// of one case run back to back, under the same machine load.
func BenchmarkEndToEnd(b *testing.B) {
	for _, pubs := range publisherCounts {
		for _, size := range sizes {
			for _, p := range peers {
				b.Run(fmt.Sprintf("sys=%s/pubs=%d/size=%d", p.name, pubs, size), func(b *testing.B) {
					benchEndToEnd(b, p, pubs, size)
				})
			}
		}
	}
}

// benchEndToEnd uses the b.N loop, not b.Loop: b.Loop stops the timer
// when it returns false, and the wait for the subscriber to drain must be
// timed.
func benchEndToEnd(b *testing.B, p peer, pubs, size int) {
	ctx := context.Background()
	payload := make([]byte, size)
	var handled, target atomic.Int64
	reached := make(chan struct{}, 1)
	inst, err := p.open(ctx, "bench", func([]byte) {
		if handled.Add(1) == target.Load() {
			reached <- struct{}{}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := inst.close(); err != nil {
			b.Error(err)
		}
	}()

	// One message before the clock starts: the subscription is live and
	// the topic exists when the timed run begins.
	target.Store(1)
	if err := inst.publish(ctx, payload); err != nil {
		b.Fatal(err)
	}
	waitFor(b, reached, &handled, 1)

	target.Store(1 + int64(b.N))
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu := cpuTime()
	var wg sync.WaitGroup
	for i := range pubs {
		n := b.N / pubs
		if i < b.N%pubs {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := inst.publish(ctx, payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	waitFor(b, reached, &handled, 1+int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
}

func waitFor(b *testing.B, reached <-chan struct{}, handled *atomic.Int64, want int64) {
	b.Helper()
	select {
	case <-reached:
	case <-time.After(drainTimeout):
		b.Fatalf("subscriber handled %d of %d messages in %v", handled.Load(), want, drainTimeout)
	}
}

// BenchmarkPublish measures the publish path alone: no subscriber, a fresh
// message per iteration. allocs/op are per published message.
func BenchmarkPublish(b *testing.B) {
	for _, size := range sizes {
		for _, p := range publishPeers {
			b.Run(fmt.Sprintf("sys=%s/size=%d", p.name, size), func(b *testing.B) {
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
				// Create the topic before the clock starts.
				if err := inst.publish(ctx, payload); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := inst.publish(ctx, payload); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// TestPeersDeliver checks the harness's contract on every peer: each
// published message reaches the subscriber exactly once per count.
func TestPeersDeliver(t *testing.T) {
	const n = 200
	for _, p := range peers {
		for _, pubs := range publisherCounts {
			t.Run(fmt.Sprintf("sys=%s/pubs=%d", p.name, pubs), func(t *testing.T) {
				ctx := context.Background()
				var handled atomic.Int64
				done := make(chan struct{})
				inst, err := p.open(ctx, "bench", func([]byte) {
					if handled.Add(1) == n*int64(pubs) {
						close(done)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if err := inst.close(); err != nil {
						t.Error(err)
					}
				})
				var wg sync.WaitGroup
				for range pubs {
					wg.Go(func() {
						for range n {
							if err := inst.publish(ctx, []byte("hello")); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("handled %d of %d", handled.Load(), n*pubs)
				}
			})
		}
	}
}
