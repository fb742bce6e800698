package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
)

// Issue 9: retention must not delete records the forwarder has not sent.
// With the upstream cut, a forwarded topic with a retention limit takes
// far more than the limit; every record reaches Kafka once it returns,
// and only then does retention trim the topic again. The hold covers a
// topic created after Start as well, and leaves topics the forwarder does
// not forward under their limits.
func TestForwarderHoldsRetention(t *testing.T) {
	cases := []struct {
		name string
		r    core.Retention
		n    int
	}{
		{"messages", core.Retention{MaxMessages: 10}, 50},
		{"bytes", core.Retention{MaxBytes: 16 << 10}, 300},
	}
	for _, tc := range cases {
		for _, late := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/created-after-start=%v", tc.name, late), func(t *testing.T) {
				c, g := newCluster(t)
				cfg := testConfig(t, c)
				a := newBus(t)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				create := func(name string) {
					t.Helper()
					if _, err := a.CreateTopic(ctx, name, core.TopicConfig{Partitions: 1, Retention: tc.r}); err != nil {
						t.Fatal(err)
					}
				}
				if !late {
					create(topic)
				}
				create("local.only")
				f := startForwarder(t, a, cfg, WithTopicPattern("onex.**"))
				g.cut()
				t.Cleanup(g.restore)
				if late {
					create(topic)
				}
				msgs := make([]*core.Message, tc.n)
				local := make([]*core.Message, tc.n)
				for i := range tc.n {
					msgs[i] = padded(i)
					local[i] = padded(i)
					local[i].Topic = "local.only"
				}
				// In two commits: byte retention looks at what earlier
				// commits stored.
				for _, batch := range [][]*core.Message{msgs[:tc.n/2], local[:tc.n/2], msgs[tc.n/2:], local[tc.n/2:]} {
					if err := a.PublishBatch(ctx, batch); err != nil {
						t.Fatal(err)
					}
					if err := a.Sync(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if start, _ := a.StartOffset(topic, 0); start != 0 {
					t.Fatalf("retention dropped records up to %d before they were forwarded", start)
				}
				if start, _ := a.StartOffset("local.only", 0); start == 0 {
					t.Fatal("a topic that is not forwarded was held too")
				}
				g.restore()
				checkPerKeyOrder(t, consumeAll(t, c, topic, tc.n), tc.n)
				if err := f.WaitAcked(ctx, topic, 0, int64(tc.n-1)); err != nil {
					t.Fatal(err)
				}
				// Forwarded: the next publishes let retention trim again.
				for i := range 3 {
					if _, err := a.Publish(ctx, padded(tc.n+i)); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, 30*time.Second, "retention trims the forwarded records", func() bool {
					if _, err := a.Publish(ctx, &core.Message{Topic: topic, Key: []byte("z"), Value: []byte("seq-0")}); err != nil {
						t.Fatal(err)
					}
					start, _ := a.StartOffset(topic, 0)
					return start > 0
				})
			})
		}
	}
}
