package core_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// A publisher may reuse its Message and the bytes of its Key and Value
// once Publish returns: the bus keeps no reference to them, so what was
// published stays as it was, for History and for a subscriber, while the
// caller overwrites the same message and buffers for the next publish.
func TestPublishedMessageMayBeReused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		h, got := collector(10)
		const n = 5
		key, value := make([]byte, 8), make([]byte, 64)
		m := &core.Message{}
		for i := range n {
			copy(key, fmt.Sprintf("key-%04d", i))
			copy(value, bytes.Repeat([]byte{byte('a' + i)}, len(value)))
			*m = core.Message{Topic: "t", Key: key, Value: value}
			if _, err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		// The last publish's buffers are overwritten too.
		copy(key, "XXXXXXXX")
		copy(value, bytes.Repeat([]byte{'Z'}, len(value)))
		*m = core.Message{Topic: "other"}
		if _, err := b.Subscribe(ctx, "t", "g", h, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		hist, err := b.History(ctx, "t", n)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != n {
			t.Fatalf("History has %d messages, want %d", len(hist), n)
		}
		for i := range n {
			wantKey, wantValue := fmt.Sprintf("key-%04d", i), bytes.Repeat([]byte{byte('a' + i)}, len(value))
			d := testutil.Receive(t, got, wait)
			for _, msg := range []*core.Message{hist[i], d} {
				if string(msg.Key) != wantKey || !bytes.Equal(msg.Value, wantValue) || msg.Offset != int64(i) {
					t.Fatalf("message %d reads key %q value %q.. at offset %d, want %q %q..", i, msg.Key, msg.Value[:4], msg.Offset, wantKey, wantValue[:4])
				}
			}
		}
	})
}
