package kafka

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 9: a topic name Kafka refuses (here "x_y", which collides with the
// forwarded "x.y" in Kafka's namespace, and a 250-character name, past
// Kafka's 249) is a permanent error of that topic: logged once at error
// level, reported by RefusedTopics wrapping ErrTopicRefused, never asked
// again, left out of the backlog; every other topic keeps flowing.
func TestForwarderRefusedTopicName(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	var creates sync.Map // topic -> *atomic.Int32
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, rt := range req.(*kmsg.CreateTopicsRequest).Topics {
			n, _ := creates.LoadOrStore(rt.Topic, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
		return nil, nil, false
	})
	createsOf := func(topic string) int32 {
		n, ok := creates.Load(topic)
		if !ok {
			return 0
		}
		return n.(*atomic.Int32).Load()
	}
	var logs syncBuffer
	a := newBus(t)
	f, err := NewForwarder(a, cfg, WithForwarderLogger(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})))
	if err != nil {
		t.Fatal(err)
	}
	rounds := make(chan struct{}, 1)
	f.fc.afterDiscover = func() {
		select {
		case rounds <- struct{}{}:
		default:
		}
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func(topic string) *core.Message {
		t.Helper()
		m := &core.Message{Topic: topic, Value: []byte("v")}
		if _, err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := publish("x.y")
	if err := f.WaitAcked(ctx, "x.y", 0, first.Offset); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("t", 250)
	publish("x_y")
	publish(long)
	waitFor(t, 30*time.Second, "both refused", func() bool { return len(f.RefusedTopics()) == 2 })
	for _, name := range []string{"x_y", long} {
		err := f.RefusedTopics()[name]
		if !errors.Is(err, ErrTopicRefused) || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: %v, want ErrTopicRefused naming the topic", name, err)
		}
	}
	if err := f.RefusedTopics()["x_y"]; !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("x_y: %v, want Kafka's INVALID_TOPIC_EXCEPTION", err)
	}
	// Twenty more discovery rounds: neither is asked for again.
	for range 20 {
		select {
		case <-rounds:
		case <-ctx.Done():
			t.Fatal("discovery stopped")
		}
	}
	if n := createsOf("x_y"); n != 1 {
		t.Fatalf("x_y: %d CreateTopics, want 1", n)
	}
	if n := createsOf(long); n != 0 {
		t.Fatalf("250-character name: %d CreateTopics, want 0 (Kafka refuses it)", n)
	}
	if n := strings.Count(logs.String(), "[ERROR]"); n != 2 {
		t.Fatalf("%d error lines, want one per refused topic:\n%s", n, logs.String())
	}
	// The rest flows; the refused topics are no backlog.
	publish("x.y")
	last := publish("other")
	if err := f.WaitAcked(ctx, "other", 0, last.Offset); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitAcked(ctx, "x.y", 0, 1); err != nil {
		t.Fatal(err)
	}
	if n := f.Backlog(); n != 0 {
		t.Fatalf("backlog %d, want 0: refused topics are not forwarded", n)
	}
	if n, err := f.BacklogBytes(); err != nil || n != 0 {
		t.Fatalf("backlog %d bytes (%v), want 0", n, err)
	}
}

// Issue 9: a topic Kafka refuses on produce (no authorization to write
// it) is refused for good too, without opening the breaker; its partition
// loops stop producing.
func TestForwarderRefusedTopicOnProduce(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	var produces atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		// Only "denied" is forwarded: every produce is to it (by name, or
		// by topic id from Produce v13 on).
		pr := req.(*kmsg.ProduceRequest)
		produces.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	a := newBus(t)
	f, err := NewForwarder(a, cfg, WithTopicPattern("denied"))
	if err != nil {
		t.Fatal(err)
	}
	rounds := make(chan struct{}, 1)
	f.fc.afterDiscover = func() {
		select {
		case rounds <- struct{}{}:
		default:
		}
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 3 {
		if _, err := a.Publish(ctx, &core.Message{Topic: "denied", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "refused", func() bool { return len(f.RefusedTopics()) == 1 })
	if err := f.RefusedTopics()["denied"]; !errors.Is(err, ErrTopicRefused) || !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("%v, want ErrTopicRefused wrapping TOPIC_AUTHORIZATION_FAILED", err)
	}
	n := produces.Load()
	for range 20 {
		select {
		case <-rounds:
		case <-ctx.Done():
			t.Fatal("discovery stopped")
		}
	}
	if got := produces.Load(); got != n {
		t.Fatalf("%d more produce requests after the refusal", got-n)
	}
	if st := f.BreakerState(); st != BreakerClosed {
		t.Fatalf("breaker %v, want closed: a refusal is no outage", st)
	}
	if got := f.Acked("denied", 0); got != 0 {
		t.Fatalf("position %d, want 0: nothing was forwarded", got)
	}
}
