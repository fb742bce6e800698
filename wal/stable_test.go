package wal_test

import (
	"context"
	"testing"
	"time"

	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// Entry.Stable is true for frames whose bytes outlive the read unchanged
// (the tail, a store.Volatile store) and false for frames read inside a
// store's transaction that is not volatile.
func TestEntryStable(t *testing.T) {
	tests := []struct {
		name   string
		open   func(t *testing.T) *wal.Log
		stable bool
	}{
		{"memory store, committed", func(t *testing.T) *wal.Log { return openLog(t, memstore.New()) }, true},
		{"disk-checked store, committed", func(t *testing.T) *wal.Log { return openLog(t, diskStore{memstore.New()}) }, false},
		{"disk-checked store, queued in the tail", func(t *testing.T) *wal.Log {
			return openLog(t, diskStore{memstore.New()}, wal.WithPolicy(wal.PolicyNone, time.Hour))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.open(t)
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
			appendN(t, l, "t", 3, func(i int) int64 { return int64(i) })
			n := 0
			if _, err := l.Read(context.Background(), "t", 0, 0, 10, func(e *wal.Entry) error {
				n++
				if e.Stable != tt.stable {
					t.Errorf("offset %d: Stable %v, want %v", e.Offset, e.Stable, tt.stable)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Fatalf("read %d records, want 3", n)
			}
		})
	}
}
