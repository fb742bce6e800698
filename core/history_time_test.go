package core_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/wal"
)

// History with TimeRange returns every message in the range even when
// timestamps do not follow offsets (publishers and ingest set them), and
// the newest limit of them (issue 9).
func TestHistoryTimeRangeOutOfOrder(t *testing.T) {
	ctx := context.Background()
	b, err := core.New(core.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Offsets 0..299 with timestamps going back and forth by minutes.
	mins := func(i int) int { return (i * 37) % 100 }
	for i := range 300 {
		m := msg("t1", fmt.Sprint(i))
		m.Timestamp = base.Add(time.Duration(mins(i)) * time.Minute)
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	since, until := base.Add(20*time.Minute), base.Add(30*time.Minute)
	want := 0
	for i := range 300 {
		if m := mins(i); m >= 20 && m < 30 {
			want++
		}
	}
	got, err := b.History(ctx, "t1", 1000, core.TimeRange(since, until))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("TimeRange: %d messages, want %d", len(got), want)
	}
	for _, m := range got {
		if m.Timestamp.Before(since) || !m.Timestamp.Before(until) {
			t.Fatalf("message at %v outside the range", m.Timestamp)
		}
	}
	newest, err := b.History(ctx, "t1", 5, core.TimeRange(since, until))
	if err != nil || len(newest) != 5 || newest[4].Offset != got[len(got)-1].Offset {
		t.Fatalf("newest 5: %d, %v", len(newest), err)
	}
	// Only an upper bound.
	early, err := b.History(ctx, "t1", 1000, core.TimeRange(time.Time{}, base.Add(10*time.Minute)))
	if err != nil || len(early) != 30 {
		t.Fatalf("until 10 minutes: %d messages (want 30), %v", len(early), err)
	}
}

// A timestamp outside what the log's nanoseconds hold is refused, not
// stored overflowed (issue 9).
func TestPublishTimestampOutOfRange(t *testing.T) {
	ctx := context.Background()
	b, err := core.New(core.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	for _, ts := range []time.Time{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)} {
		m := msg("t1", "x")
		m.Timestamp = ts
		if _, err := b.Publish(ctx, m); !errors.Is(err, wal.ErrTimestampRange) || !errors.Is(err, core.ErrInvalidHeaders) {
			t.Fatalf("publish at %v: %v", ts, err)
		}
	}
	if hist, err := b.History(ctx, "t1", 10); err != nil || len(hist) != 0 {
		t.Fatalf("history: %d, %v", len(hist), err)
	}
}
