package wal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// HoldRetentionOf holds only the topics its match accepts, and holds a
// partition created after the hold from its very first append (issue 9:
// a forwarder's new topic lost records to count retention before the
// first commit computed its floor).
func TestHoldRetentionOf(t *testing.T) {
	l := openLog(t, memstore.New())
	release, err := l.HoldRetentionOf("fwd", func(topic string) bool { return strings.HasPrefix(topic, "held.") })
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, name := range []string{"held.t", "free.t"} {
		createTopic(t, l, name, wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxMessages: 5}})
		recs := make([]wal.Record, 30)
		for i := range recs {
			recs[i] = wal.Record{Payload: fmt.Appendf(nil, "rec-%d", i)}
		}
		if err := l.Append(context.Background(), name, 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	if s, _, _ := l.Offsets("held.t", 0); s != 0 {
		t.Fatalf("held topic created after the hold: start %d, want 0", s)
	}
	// A partition created under a hold is held until its first commit
	// computes its floor; from the next append on, count retention runs.
	appendN(t, l, "free.t", 1, func(int) int64 { return 0 })
	if s, _, _ := l.Offsets("free.t", 0); s != 26 {
		t.Fatalf("topic outside the hold: start %d, want 26", s)
	}
	if err := l.CommitCursor("fwd", "held.t", 0, 20, false); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "held.t", 1, func(int) int64 { return 0 })
	appendN(t, l, "held.t", 1, func(int) int64 { return 0 })
	if s, _, _ := l.Offsets("held.t", 0); s != 20 {
		t.Fatalf("held topic after the reader moved to 20: start %d, want 20", s)
	}
}
