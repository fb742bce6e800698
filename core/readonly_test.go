package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// A group of read-only handlers (SubscribeReadOnly) gets every message
// in order with its key and value, from the store and from the records
// not yet committed alike; on the memory store its Key and Value are the
// log's own bytes (two read-only groups see the same bytes, a default
// group its own copy), on bbolt a copy as without the option. Either way
// the capacities end at the lengths.
func TestSubscribeReadOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		const n = 40
		publish := func(from, to int) {
			for i := from; i < to; i++ {
				m := &core.Message{Topic: "t", Key: []byte(fmt.Sprintf("k-%02d", i)), Value: []byte(fmt.Sprintf("v-%02d", i))}
				if _, err := b.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish(0, n/2) // stored before the groups subscribe
		groups := map[string][]core.SubscribeOption{
			"ro1":     {core.SubscribeStart(core.StartEarliest), core.SubscribeReadOnly()},
			"ro2":     {core.SubscribeStart(core.StartEarliest), core.SubscribeReadOnly()},
			"default": {core.SubscribeStart(core.StartEarliest)},
		}
		got := map[string]chan *core.Message{}
		for g, opts := range groups {
			h, ch := collector(n)
			got[g] = ch
			if _, err := b.Subscribe(ctx, "t", g, h, opts...); err != nil {
				t.Fatal(err)
			}
		}
		publish(n/2, n) // read from the tail or the store, as delivery catches them
		msgs := map[string][]*core.Message{}
		for g, ch := range got {
			for i := range n {
				m := testutil.Receive(t, ch, wait)
				if m.Offset != int64(i) || string(m.Key) != fmt.Sprintf("k-%02d", i) || string(m.Value) != fmt.Sprintf("v-%02d", i) {
					t.Fatalf("group %s message %d: offset %d %q=%q", g, i, m.Offset, m.Key, m.Value)
				}
				if cap(m.Key) != len(m.Key) || cap(m.Value) != len(m.Value) {
					t.Fatalf("group %s offset %d: capacities %d/%d for lengths %d/%d", g, i, cap(m.Key), cap(m.Value), len(m.Key), len(m.Value))
				}
				msgs[g] = append(msgs[g], m)
			}
		}
		same := func(a, b []byte) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }
		memory := strings.HasSuffix(t.Name(), "/memory")
		for i := range n {
			ro1, ro2, def := msgs["ro1"][i], msgs["ro2"][i], msgs["default"][i]
			if same(ro1.Value, def.Value) || same(ro2.Value, def.Value) {
				t.Fatalf("offset %d: the default group's value is shared with a read-only group's", i)
			}
			if got := same(ro1.Value, ro2.Value) && same(ro1.Key, ro2.Key); got != memory {
				t.Fatalf("offset %d: the read-only groups share the log's bytes: %v, want %v", i, got, memory)
			}
			if ro1 == ro2 {
				t.Fatalf("offset %d: two groups got the same Message", i)
			}
		}
	})
}

// SubscribeReadOnly is a setting of the group: a member that differs from
// the group's is refused.
func TestSubscribeReadOnlyIsAGroupSetting(t *testing.T) {
	ctx := context.Background()
	b, err := core.New(core.WithStore(memStore()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(ctx) })
	h := func(context.Context, *core.Message) error { return nil }
	if _, err := b.Subscribe(ctx, "t", "g", h, core.SubscribeReadOnly()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, "t", "g", h); !errors.Is(err, core.ErrGroupSettings) {
		t.Fatalf("a member without the option: %v, want ErrGroupSettings", err)
	}
	if _, err := b.Subscribe(ctx, "t", "g2", h); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, "t", "g2", h, core.SubscribeReadOnly()); !errors.Is(err, core.ErrGroupSettings) {
		t.Fatalf("a read-only member of a default group: %v, want ErrGroupSettings", err)
	}
	if _, err := b.Subscribe(ctx, "t", "g", h, core.SubscribeReadOnly()); err != nil {
		t.Fatalf("a second read-only member: %v", err)
	}
}
