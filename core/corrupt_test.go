package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/wal"
)

// ACCEPTANCE 30: a flipped bit in a stored message is reported with its
// location and never panics; the rest of the log stays readable, and
// Compact keeps every message.
func TestCorruptRecordInBoltFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := b.Publish(ctx, msg("t1", fmt.Sprintf("value-%03d-unique", i))); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := b.Compact(ctx); !ok || err != nil {
		t.Fatalf("compact: %v, %v", ok, err)
	}
	if hist, err := b.History(ctx, "t1", 1000); err != nil || len(hist) != 100 {
		t.Fatalf("after compact: %d messages, %v", len(hist), err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "onexbus.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("value-050-unique"))
	if i < 0 || bytes.Count(data, []byte("value-050-unique")) != 1 {
		t.Fatal("the record's value is not stored once in the file")
	}
	data[i+3] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	b, err = core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	_, err = b.History(ctx, "t1", 1000)
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || ce.Topic != "t1" || ce.Partition != 0 || ce.Offset != 50 {
		t.Fatalf("history over the damage: %v (want a CorruptError at t1/0 offset 50)", err)
	}
	before, err := b.Fetch(ctx, "t1", 0, 0, 50)
	if err != nil || len(before) != 50 {
		t.Fatalf("before the damage: %d, %v", len(before), err)
	}
	after, err := b.Fetch(ctx, "t1", 0, ce.Next, 1000)
	if err != nil || len(after) != 100-int(ce.Next) || after[len(after)-1].Offset != 99 {
		t.Fatalf("after the damage (from %d): %d, %v", ce.Next, len(after), err)
	}
	// Every consumer group, in every ordering, delivers the intact records
	// around the damage, dead-letters the damaged stretch with its
	// location (never skips it in silence) and moves on; Health counts the
	// damage once.
	for _, o := range orderings {
		group := "g-" + o.name
		h, got := collector(100)
		if _, err := b.Subscribe(ctx, "t1", group, h, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
			t.Fatal(err)
		}
		for range 99 {
			select {
			case m := <-got:
				if m.Offset == 50 {
					t.Fatalf("%s: the damaged record was delivered", group)
				}
			case <-time.After(wait):
				t.Fatalf("%s: the intact records were not all delivered", group)
			}
		}
		waitCursor(t, b, group, "t1", 0, 100)
		letters, err := b.DeadLetters().List(ctx, dlq.Filter{Group: group, Limit: dlq.All})
		if err != nil || len(letters) != 1 {
			t.Fatalf("%s: dead letters %+v, %v; want the damaged record", group, letters, err)
		}
		if l := letters[0]; l.Topic != "t1" || l.Partition != 0 || l.Offset != 50 ||
			!strings.Contains(l.Error, "offsets 50 to 50") || !strings.Contains(l.Error, "damaged") {
			t.Fatalf("%s: dead letter %+v; want t1/0 offset 50 with the damage in its error", group, l)
		}
	}
	if n := b.Health().DamagedRecords; n != 1 {
		t.Fatalf("Health.DamagedRecords = %d, want 1", n)
	}
}

// waitCursor waits until group's committed cursor on topic/part is want.
func waitCursor(t *testing.T, b *core.Bus, group, topic string, part int32, want int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		off, _, err := b.CommittedOffset(group, topic, part)
		if err != nil {
			t.Fatal(err)
		}
		if off == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cursor on %s/%d is %d, want %d", group, topic, part, off, want)
		}
		time.Sleep(time.Millisecond)
	}
}
