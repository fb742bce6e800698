package core_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
)

func nopHandler(context.Context, *core.Message) error { return nil }

// Membership is one kind at a time: a live Subscribe member blocks a Kafka
// claim and a live claim blocks Subscribe; either side's departure frees
// the name again.
func TestGroupMembershipOneKindAtATime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := testutil.Context(t)
		if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
		sub, err := b.Subscribe(ctx, "t", "g", nopHandler)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ClaimGroup("g"); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("claim with an embedded member: %v, want ErrGroupInUse", err)
		}
		if _, err := b.CommitGroupOffsets("g", []core.GroupOffset{{Topic: "t", Offset: 0}}); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("simple commit with an embedded member: %v, want ErrGroupInUse", err)
		}
		release, err := b.ClaimGroup("other")
		if err != nil {
			t.Fatalf("claim of another group: %v", err)
		}
		release()
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}

		release, err = b.ClaimGroup("g")
		if err != nil {
			t.Fatalf("claim after the member left: %v", err)
		}
		release2, err := b.ClaimGroup("g")
		if err != nil {
			t.Fatalf("nested claim: %v", err)
		}
		if _, err := b.Subscribe(ctx, "t", "g", nopHandler); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("subscribe while claimed: %v, want ErrGroupInUse", err)
		}
		release()
		release() // idempotent: does not drop release2's claim
		if _, err := b.Subscribe(ctx, "t", "g", nopHandler); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("subscribe while the nested claim is held: %v, want ErrGroupInUse", err)
		}
		release2()
		if _, err := b.Subscribe(ctx, "t", "g", nopHandler); err != nil {
			t.Fatalf("subscribe after every claim was released: %v", err)
		}

		for _, bad := range []string{"", "a\x00b", string(make([]byte, 256))} {
			if _, err := b.ClaimGroup(bad); !errors.Is(err, core.ErrInvalidGroup) {
				t.Errorf("claim of %q: %v, want ErrInvalidGroup", bad, err)
			}
		}
	})
}

func TestClaimGroupAfterClose(t *testing.T) {
	b, err := core.New(core.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	release, err := b.ClaimGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	release() // after Close: harmless
	if _, err := b.ClaimGroup("g"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("claim after close: %v, want ErrClosed", err)
	}
	if _, err := b.CommitGroupOffsets("g", nil); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("commit after close: %v, want ErrClosed", err)
	}
}

// EmbeddedGroups synthesises members from subscriptions, with the
// partitions each one is delivered.
func TestEmbeddedGroupsShowMembersAndAssignments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := testutil.Context(t)
		if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		s1, err := b.Subscribe(ctx, "t", "g", nopHandler)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, "t", "g", nopHandler); err != nil {
			t.Fatal(err)
		}
		eg, ok := b.EmbeddedGroupOf("g")
		if !ok || len(eg.Members) != 2 {
			t.Fatalf("group g: %+v %v, want 2 members", eg, ok)
		}
		got := map[int32]string{}
		for _, m := range eg.Members {
			if m.Pattern != "t" {
				t.Errorf("member %s pattern %q, want t", m.ID, m.Pattern)
			}
			for _, p := range m.Assigned["t"] {
				if prev, dup := got[p]; dup {
					t.Errorf("partition %d assigned to %s and %s", p, prev, m.ID)
				}
				got[p] = m.ID
			}
		}
		if len(got) != 3 {
			t.Fatalf("assigned partitions %v, want all 3", got)
		}
		if err := s1.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		all := b.EmbeddedGroups()
		if len(all) != 1 || all[0].Name != "g" || len(all[0].Members) != 1 || len(all[0].Members[0].Assigned["t"]) != 3 {
			t.Fatalf("after one left: %+v, want g with one member holding 3 partitions", all)
		}
		if _, ok := b.EmbeddedGroupOf("nope"); ok {
			t.Fatal("unknown group reported")
		}
	})
}

// One offset space: what a Kafka coordinator commits (even backwards) is
// where an embedded member of the same group starts, and what the
// embedded group delivers is what the coordinator reads back.
func TestGroupOffsetsSharedWithEmbeddedGroups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := testutil.Context(t)
		if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := b.Publish(ctx, &core.Message{Topic: "t", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
		for _, off := range []int64{4, 2} { // the second commit moves backwards, as after a seek
			durable, err := b.CommitGroupOffsets("g", []core.GroupOffset{{Topic: "t", Partition: 0, Offset: off, LeaderEpoch: 0}})
			if err != nil {
				t.Fatal(err)
			}
			if err := durable(ctx); err != nil {
				t.Fatal(err)
			}
			got, ok, err := b.GroupOffset("g", "t", 0)
			if err != nil || !ok || got.Offset != off {
				t.Fatalf("after commit of %d: %+v %v %v", off, got, ok, err)
			}
		}
		if _, err := b.CommitGroupOffsets("g", []core.GroupOffset{{Topic: "missing"}}); !errors.Is(err, core.ErrUnknownTopic) {
			t.Fatalf("commit to a missing topic: %v, want ErrUnknownTopic", err)
		}
		if _, err := b.CommitGroupOffsets("g", []core.GroupOffset{{Topic: "t", Partition: 1}}); !errors.Is(err, core.ErrInvalidPartition) {
			t.Fatalf("commit to a missing partition: %v, want ErrInvalidPartition", err)
		}
		if groups := b.OffsetGroups(); len(groups) != 1 || groups[0] != "g" {
			t.Fatalf("OffsetGroups %v, want [g]", groups)
		}

		seen := make(chan int64, 5)
		sub, err := b.Subscribe(ctx, "t", "g", func(_ context.Context, m *core.Message) error { seen <- m.Offset; return nil })
		if err != nil {
			t.Fatal(err)
		}
		for want := int64(2); want < 5; want++ {
			if got := testutil.Receive(t, seen, wait); got != want {
				t.Fatalf("embedded member got offset %d, want %d (resuming at the Kafka commit)", got, want)
			}
		}
		testutil.Eventually(t, wait, func() bool {
			o, ok, _ := b.GroupOffset("g", "t", 0)
			return ok && o.Offset == 5
		}, "the embedded group's cursor visible as the committed offset 5")
		offs := b.GroupOffsets("g")
		if len(offs) != 1 || offs[0].Topic != "t" || offs[0].Offset != 5 {
			t.Fatalf("GroupOffsets %+v, want t/0 at 5", offs)
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Offsets carry their leader epoch, metadata and commit time through a
// restart; invalid ones are refused whole; deletes are durable and refused
// while embedded members are live.
func TestGroupOffsetsMetadataDeleteAndRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testutil.Context(t)
	open := func() *core.Bus {
		t.Helper()
		b, err := core.New(core.WithDataDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Publish(ctx, &core.Message{Topic: "t", Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	part := core.KafkaPartition([]byte("k"), 2)
	when := time.UnixMilli(1_700_000_000_123)
	durable, err := b.CommitGroupOffsets("g", []core.GroupOffset{
		{Topic: "t", Partition: part, Offset: 3, LeaderEpoch: 7, Metadata: "md", CommitTime: when},
		{Topic: "t", Partition: 1 - part, Offset: 0, LeaderEpoch: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := durable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []core.GroupOffset{
		{Topic: "t", Partition: part, Offset: 4},                                      // past the end
		{Topic: "t", Partition: part, Offset: -1},                                     // negative
		{Topic: "t", Partition: part, Offset: 1, Metadata: strings.Repeat("x", 4097)}, // metadata too large
	} {
		if _, err := b.CommitGroupOffsets("g", []core.GroupOffset{bad}); !errors.Is(err, core.ErrInvalidOffset) {
			t.Errorf("commit %+v: %v, want ErrInvalidOffset", bad, err)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	b = open()
	defer b.Close(ctx)
	got, ok, err := b.GroupOffset("g", "t", part)
	if err != nil || !ok {
		t.Fatalf("after restart: %v %v", ok, err)
	}
	if got.Offset != 3 || got.LeaderEpoch != 7 || got.Metadata != "md" || !got.CommitTime.Equal(when) {
		t.Fatalf("after restart: %+v, want offset 3 epoch 7 metadata md at %v", got, when)
	}
	if offs := b.GroupOffsets("g"); len(offs) != 2 {
		t.Fatalf("GroupOffsets %+v, want 2", offs)
	}

	if err := b.DeleteGroupOffset(ctx, "g", "t", 1-part); err != nil {
		t.Fatal(err)
	}
	if offs := b.GroupOffsets("g"); len(offs) != 1 || offs[0].Partition != part {
		t.Fatalf("after deleting one: %+v", offs)
	}
	sub, err := b.Subscribe(ctx, "t", "g", nopHandler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteGroupOffsets(ctx, "g"); !errors.Is(err, core.ErrGroupInUse) {
		t.Fatalf("delete with an embedded member: %v, want ErrGroupInUse", err)
	}
	if err := b.DeleteGroupOffset(ctx, "g", "t", part); !errors.Is(err, core.ErrGroupInUse) {
		t.Fatalf("delete one with an embedded member: %v, want ErrGroupInUse", err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if deleted, err := b.DeleteGroupOffsets(ctx, "g"); err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if deleted, err := b.DeleteGroupOffsets(ctx, "g"); err != nil || deleted {
		t.Fatalf("second delete: %v %v, want false", deleted, err)
	}
	if groups := b.OffsetGroups(); len(groups) != 0 {
		t.Fatalf("OffsetGroups after delete: %v", groups)
	}
}

// A broker's group metadata is stored per group, survives a restart,
// is deleted by nil, and a damaged value is left out, not returned.
func TestGroupMetadataStoredAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testutil.Context(t)
	b, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"a": "meta-a", "b": "meta-b", "gone": "x"} {
		if err := b.SaveGroupMetadata(name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SaveGroupMetadata("gone", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveGroupMetadata("", []byte("x")); !errors.Is(err, core.ErrInvalidGroup) {
		t.Fatalf("empty group name: %v, want ErrInvalidGroup", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveGroupMetadata("a", []byte("late")); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("save after close: %v, want ErrClosed", err)
	}

	st, err := bolt.Open(filepath.Join(dir, "onexbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit of b's stored value.
	if err := st.Update(func(tx store.Tx) error {
		bk := tx.Bucket([]byte("kafka-group-meta"))
		v := append([]byte(nil), bk.Get([]byte("b"))...)
		v[2] ^= 0x10
		return bk.Put([]byte("b"), v)
	}); err != nil {
		t.Fatal(err)
	}
	b, err = core.New(core.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	got, err := b.GroupMetadata()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got["a"]) != "meta-a" {
		t.Fatalf("after restart: %q, want only a (b is damaged, gone was deleted)", got)
	}
}
