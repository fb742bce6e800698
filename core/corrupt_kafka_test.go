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

// ACCEPTANCE 30 on a FormatKafka topic: a flipped bit inside a stored
// batch fails its CRC and is reported at the batch's offset, the batches
// around it stay readable, and every group delivers the intact records and
// dead-letters the damaged one with its location.
func TestCorruptBatchInBoltFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	topic := core.WithTopic("t1", core.TopicConfig{Partitions: 1, Format: core.FormatKafka})
	b, err := core.New(core.WithDataDir(dir), topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := b.Publish(ctx, msg("t1", fmt.Sprintf("value-%03d-unique", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Chunks fill across commits: the pages of their earlier versions
	// are free but still hold the bytes until Compact rewrites the file.
	if ok, err := b.Compact(ctx); !ok || err != nil {
		t.Fatalf("compact: %v, %v", ok, err)
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
	b, err = core.New(core.WithDataDir(dir), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	_, err = b.History(ctx, "t1", 1000)
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || ce.Topic != "t1" || ce.Partition != 0 || ce.Offset != 50 || ce.Next != 51 ||
		!strings.Contains(ce.Reason, "CRC") {
		t.Fatalf("history over the damage: %v (want a CRC CorruptError at t1/0 offset 50, next 51)", err)
	}
	before, err := b.Fetch(ctx, "t1", 0, 0, 50)
	if err != nil || len(before) != 50 {
		t.Fatalf("before the damage: %d, %v", len(before), err)
	}
	after, err := b.Fetch(ctx, "t1", 0, ce.Next, 1000)
	if err != nil || len(after) != 49 || after[len(after)-1].Offset != 99 {
		t.Fatalf("after the damage: %d, %v", len(after), err)
	}
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
		if err != nil || len(letters) != 1 || letters[0].Offset != 50 {
			t.Fatalf("%s: dead letters %+v, %v; want the damaged record", group, letters, err)
		}
	}
}
