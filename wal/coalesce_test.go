package wal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// TestCommitWaitRange: WithCommitWait takes [0, 10ms]; anything else is
// ErrInvalidOption.
func TestCommitWaitRange(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 11 * time.Millisecond} {
		if _, err := wal.Open(memory.New(), wal.WithCommitWait(d)); !errors.Is(err, wal.ErrInvalidOption) {
			t.Errorf("WithCommitWait(%v): %v, want ErrInvalidOption", d, err)
		}
	}
}

// TestCommitWaitKeepsEveryAppend: with the committer waiting for the
// appenders it released, concurrent synchronous appends are all
// acknowledged with dense offsets, each once.
func TestCommitWaitKeepsEveryAppend(t *testing.T) {
	l := openLog(t, memory.New(), wal.WithCommitWait(2*time.Millisecond))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	const publishers, each = 16, 40
	offsets := make(chan int64, publishers*each)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				recs := []wal.Record{{Payload: fmt.Appendf(nil, "%d-%d", p, i)}}
				if err := l.Append(context.Background(), "t", 0, recs); err != nil {
					t.Error(err)
					return
				}
				offsets <- recs[0].Offset
			}
		})
	}
	wg.Wait()
	close(offsets)
	seen := make(map[int64]bool)
	for off := range offsets {
		if seen[off] {
			t.Fatalf("offset %d given twice", off)
		}
		seen[off] = true
	}
	for off := range int64(publishers * each) {
		if !seen[off] {
			t.Fatalf("offset %d missing of %d", off, publishers*each)
		}
	}
}
