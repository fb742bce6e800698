package wal_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// A reader that waits for the next record whenever a read finds none (as
// a delivery loop does) never misses a wake-up while appenders race it:
// the appenders combine (combine.go), take the Notify channel under the
// partition lock and close it after unlocking, and the reader may ask for
// a channel at any point of that. The check is exact, not a timeout: once
// every Append has returned, a channel the reader holds for a position
// below the end must be closed already (an append that passed the
// position took and closed it, or Notify saw the end past it and gave a
// closed one); an open one is a lost wake-up, and the reader would wait
// forever. Under PolicySync the committer wakes, after each commit; both
// Notify (Read's readers) and NotifyCommitted (ReadCommitted's: the
// delivery loops) are checked. Run with -race.
func TestReaderWaitingNeverMissesAnAppend(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    wal.Policy
		calls     int
		committed bool
	}{
		{"none", wal.PolicyNone, 2000, false},
		{"none-committed", wal.PolicyNone, 2000, true},
		{"sync", wal.PolicySync, 150, false},
		{"sync-committed", wal.PolicySync, 150, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, memstore.New(), wal.WithPolicy(tc.policy, 0))
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
			ctx := context.Background()
			read, notify := l.Read, l.Notify
			if tc.committed {
				read, notify = l.ReadCommitted, l.NotifyCommitted
			}
			const appenders = 4
			total := int64(0)
			for g := range appenders {
				for i := range tc.calls {
					total += int64(1 + (g+i)%3)
				}
			}

			// The reader's state the check looks at: the channel it waits
			// on (nil while it reads) and the position it waits for.
			var mu sync.Mutex
			var waitCh <-chan struct{}
			var waitPos, got, waits int64
			readerErr := make(chan error, 1)
			go func() {
				pos := int64(0)
				for pos < total {
					next, err := read(ctx, "t", 0, pos, 64, func(*wal.Entry) error { return nil })
					if err != nil {
						readerErr <- err
						return
					}
					if next > pos {
						pos = next
						mu.Lock()
						got = pos
						mu.Unlock()
						continue
					}
					ch, err := notify("t", 0, pos)
					if err != nil {
						readerErr <- err
						return
					}
					mu.Lock()
					waitCh, waitPos = ch, pos
					waits++
					mu.Unlock()
					<-ch // a lost wake-up blocks here for good
					mu.Lock()
					waitCh = nil
					mu.Unlock()
				}
				readerErr <- nil
			}()

			var wg sync.WaitGroup
			errs := make(chan error, appenders)
			for g := range appenders {
				wg.Go(func() {
					for i := range tc.calls {
						recs := make([]wal.Record, 1+(g+i)%3)
						for k := range recs {
							recs[k].Payload = fmt.Appendf(nil, "g%d-%d-%d", g, i, k)
						}
						if err := l.Append(ctx, "t", 0, recs); err != nil {
							errs <- err
							return
						}
						// Let the reader catch up and wait, so that most
						// appends find it waiting or about to.
						runtime.Gosched()
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			_, end, err := l.Offsets("t", 0)
			if err != nil {
				t.Fatal(err)
			}
			if end != total {
				t.Fatalf("end %d, want %d", end, total)
			}
			// Every append has returned: from here on the reader only
			// reads, or waits on a channel that must be closed.
			testutil.Eventually(t, 30*time.Second, func() bool {
				select {
				case err := <-readerErr:
					if err != nil {
						t.Fatalf("reader: %v", err)
					}
					return true
				default:
				}
				mu.Lock()
				ch, pos, at := waitCh, waitPos, got
				mu.Unlock()
				if ch != nil && pos < end {
					select {
					case <-ch:
					default:
						t.Fatalf("lost wake-up: the reader waits for offset %d (read up to %d) on an open channel, and the partition ends at %d", pos, at, end)
					}
				}
				return false
			}, "the reader to read every record")
			mu.Lock()
			t.Logf("the reader waited %d times for %d records", waits, total)
			mu.Unlock()
		})
	}
}

// BenchmarkReaderPark is what a delivery loop that has caught up does
// before it parks: a read_committed read at the end of a partition that
// finds nothing, then NotifyCommitted for the next offset (the channel
// is never closed: nothing is appended). Two runs of it in parallel (-cpu
// 2) are two groups' loops on one partition, contending for its lock and
// the log's topic map the way the loops and appenders do.
func BenchmarkReaderPark(b *testing.B) {
	l, err := wal.Open(memstore.New())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close(context.Background()) })
	if _, err := l.CreateTopic("t", wal.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Append(ctx, "t", 0, []wal.Record{{Payload: []byte("x")}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next, err := l.ReadCommitted(ctx, "t", 0, 1, 64, func(*wal.Entry) error { return nil })
			if err != nil || next != 1 {
				b.Fatalf("read: next %d, %v", next, err)
			}
			if _, err := l.NotifyCommitted("t", 0, next); err != nil {
				b.Fatal(err)
			}
		}
	})
}
