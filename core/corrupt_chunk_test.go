package core_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// One flipped byte in a chunk of records used to hide the rest of the
// chunk from a new group, silently (issue 9): the cursor moved past, no
// dead letter, no log line. Now nothing is skipped in silence: every
// record is delivered or inside the range of the dead letter that records
// the damage, in every ordering. (Which intact records after the damaged
// one the log can still read is the log's business: wal's frame walk
// stops at the first damaged frame of a chunk.)
func TestCorruptRecordInsideChunk(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*core.Message, 100)
	for i := range batch {
		batch[i] = msg("t1", fmt.Sprintf("value-%03d-unique", i))
	}
	if err := b.PublishBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "onexbus.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("value-042-unique"))
	if i < 0 {
		t.Fatal("record not found in the file")
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
	for _, o := range orderings {
		group := "g-" + o.name
		h, got := collector(100)
		if _, err := b.Subscribe(ctx, "t1", group, h, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
			t.Fatal(err)
		}
		waitCursor(t, b, group, "t1", 0, 100)
		delivered := map[int64]bool{}
		for len(got) > 0 {
			delivered[(<-got).Offset] = true
		}
		letters, err := b.DeadLetters().List(ctx, dlq.Filter{Group: group, Limit: dlq.All})
		if err != nil || len(letters) != 1 || letters[0].Offset != 42 {
			t.Fatalf("%s: dead letters %+v, %v; want one at offset 42", group, letters, err)
		}
		var lo, hi int64
		if _, err := fmt.Sscanf(letters[0].Error[strings.Index(letters[0].Error, "offsets "):], "offsets %d to %d", &lo, &hi); err != nil || lo != 42 {
			t.Fatalf("%s: dead letter error %q does not give the damaged range", group, letters[0].Error)
		}
		for off := int64(0); off < 100; off++ {
			if inRange := off >= lo && off <= hi; delivered[off] == inRange {
				t.Errorf("%s: offset %d delivered %v, inside the dead letter's range %d-%d %v", group, off, delivered[off], lo, hi, inRange)
			}
		}
	}
}
