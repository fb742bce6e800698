package kafka

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// A record Kafka rejects for good (MESSAGE_TOO_LARGE) does not stop its
// partition: after KAFKA_MAX_RETRY_ATTEMPTS attempts on its own it goes to
// the bus's dead-letter queue with its provenance and the error, the
// forwarded position moves past it, and the records around it (which
// shared its Kafka batch and were refused with it) all arrive in order.
func TestForwarderDeadLettersRejectedRecord(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, cfg *Config, adm *kadm.Client)
	}{
		{"broker max.message.bytes", func(t *testing.T, _ *Config, adm *kadm.Client) {
			max := "16384"
			resp, err := adm.CreateTopic(context.Background(), 1, -1, map[string]*string{"max.message.bytes": &max}, topic)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"client batch max bytes", func(t *testing.T, cfg *Config, _ *kadm.Client) {
			*cfg = with(t, *cfg, "KAFKA_BATCH_SIZE", "16384")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCluster(t)
			cfg := testConfig(t, c)
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			tc.setup(t, &cfg, kadm.NewClient(cl))
			a := newBus(t)
			f := startForwarder(t, a, cfg)
			ctx := context.Background()
			var msgs []*core.Message
			for i := range 20 {
				if i == 10 {
					msgs = append(msgs, &core.Message{Topic: topic, Key: []byte("k"), Value: bytes.Repeat([]byte("B"), 64<<10)})
				}
				msgs = append(msgs, &core.Message{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "seq-%d", i)})
			}
			if err := a.PublishBatch(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			big := msgs[10]
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := f.WaitAcked(wctx, topic, 0, msgs[len(msgs)-1].Offset); err != nil {
				t.Fatal(err)
			}
			letters, err := a.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
			if err != nil {
				t.Fatal(err)
			}
			if len(letters) != 1 {
				t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
			}
			l := letters[0]
			if l.Group != DefaultForwarderGroup || l.Topic != topic || l.Partition != big.Partition || l.Offset != big.Offset ||
				!bytes.Equal(l.Value, big.Value) || string(l.Key) != "k" || l.Attempts != cfg.v.MaxRetryAttempts {
				t.Fatalf("letter %s/%d@%d group %q attempts %d, want %s/%d@%d group %q attempts %d",
					l.Topic, l.Partition, l.Offset, l.Group, l.Attempts, topic, big.Partition, big.Offset, DefaultForwarderGroup, cfg.v.MaxRetryAttempts)
			}
			if !strings.Contains(l.Error, "MESSAGE_TOO_LARGE") {
				t.Fatalf("letter error %q", l.Error)
			}
			var id string
			for _, h := range l.Headers {
				if h.Key == core.HeaderMessageID {
					id = h.Value
				}
			}
			if id != big.Headers.MessageID.String() {
				t.Fatalf("letter message_id %q, want %s", id, big.Headers.MessageID)
			}
			checkPerKeyOrder(t, consumeAll(t, c, topic, 20), 20)
		})
	}
}
