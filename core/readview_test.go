package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// ReadMessages passes what Fetch returns, message by message, on both
// storage formats and both stores: the same keys, values, timestamps,
// offsets and headers, control records skipped, max and from honoured.
func TestReadMessagesMatchesFetch(t *testing.T) {
	kafkaBackends(t, func(t *testing.T, reopen func() *Bus) {
		b := reopen()
		ctx := context.Background()
		if _, err := b.CreateTopic(ctx, "frames", TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		createKafkaTopic(t, b, "kafka", 1)
		for _, topic := range []string{"frames", "kafka"} {
			for i := range 7 {
				m := fullMessage(topic)
				m.Key = fmt.Appendf(nil, "k%d", i)
				m.Value = bytes.Repeat([]byte{byte('a' + i)}, 10+i)
				if i == 3 {
					m.Key, m.Value = nil, nil
				}
				if _, err := b.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendRaw(t, b, "kafka", foreignBatch(t, 8, 0, true, "marker"))
		appendRaw(t, b, "kafka", foreignBatch(t, 7, 2, false, "c"))
		for _, topic := range []string{"frames", "kafka"} {
			for _, c := range []struct {
				from int64
				max  int
			}{{0, 100}, {0, 3}, {2, 4}, {6, 10}, {0, 0}} {
				want, err := b.Fetch(ctx, topic, 0, c.from, c.max)
				if err != nil {
					t.Fatal(err)
				}
				var got []*Message
				n, err := b.ReadMessages(ctx, topic, 0, c.from, c.max, func(m *Message) error {
					cp := *m
					cp.Key, cp.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
					got = append(got, &cp)
					return nil
				})
				if err != nil || n != len(got) {
					t.Fatalf("%s %+v: ReadMessages = %d, %v; %d calls", topic, c, n, err, len(got))
				}
				if len(got) != len(want) {
					t.Fatalf("%s %+v: %d messages, Fetch %d", topic, c, len(got), len(want))
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("%s %+v: message %d\n got %+v\nwant %+v", topic, c, i, got[i], want[i])
					}
				}
			}
		}
	})
}

// fn's error stops the read and comes back as is; a bad limit, an
// unknown topic and a closed bus behave as Fetch's.
func TestReadMessagesStopsAndRefuses(t *testing.T) {
	b := memBus(t)
	ctx := context.Background()
	for range 5 {
		if _, err := b.Publish(ctx, &Message{Topic: "t", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	n, err := b.ReadMessages(ctx, "t", 0, 0, 10, func(*Message) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 || calls != 2 {
		t.Fatalf("stopped read = %d, %v after %d calls; want 2, stop", n, err, calls)
	}
	if _, err := b.ReadMessages(ctx, "t", 0, 0, -1, func(*Message) error { return nil }); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("negative max: %v", err)
	}
	if n, err := b.ReadMessages(ctx, "nope", 0, 0, 10, func(*Message) error { return nil }); n != 0 || err != nil {
		t.Fatalf("unknown topic: %d, %v", n, err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadMessages(ctx, "t", 0, 0, 10, func(*Message) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed bus: %v", err)
	}
}
