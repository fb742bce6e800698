package wal_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// TestProducerIDsAreNeverReused: ids are unique across concurrent
// callers, across a clean reopen and across a crash (a copy of the file
// taken while the log is open), under PolicySync and PolicyInterval
// (whose store does not sync its commits).
func TestProducerIDsAreNeverReused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy wal.Policy
		noSync bool
	}{
		{"sync", wal.PolicySync, false},
		{"interval", wal.PolicyInterval, true},
		{"none", wal.PolicyNone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			seen := make(map[int64]bool)
			var mu sync.Mutex
			allocate := func(l *wal.Log, n int) {
				t.Helper()
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						for range n / 4 {
							id, err := l.AllocateProducerID(ctx)
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							if seen[id] || id < 0 {
								t.Errorf("producer id %d handed out twice (or negative)", id)
							}
							seen[id] = true
							mu.Unlock()
						}
					})
				}
				wg.Wait()
			}
			var counted []*syncCountingStore
			open := func(name string) (*wal.Log, *bolt.Store) {
				st, err := bolt.Open(filepath.Join(dir, name), bolt.WithNoSync(tc.noSync))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				cs := &syncCountingStore{Store: st}
				counted = append(counted, cs)
				return openLog(t, cs, wal.WithPolicy(tc.policy, time.Hour)), st
			}
			l, st := open("log.db")
			allocate(l, 1500)
			if err := errors.Join(l.Close(ctx), st.Close()); err != nil {
				t.Fatal(err)
			}
			l, _ = open("log.db")
			allocate(l, 1200)
			// A crash: the copy holds what the store wrote, nothing Close adds.
			copyFile(t, filepath.Join(dir, "log.db"), filepath.Join(dir, "crashed.db"))
			l, _ = open("crashed.db")
			allocate(l, 2000)
			if len(seen) != 1500+1200+2000 {
				t.Fatalf("%d distinct ids of %d", len(seen), 1500+1200+2000)
			}
			// Six blocks were reserved; a store that does not sync its
			// commits synced each reservation.
			syncs := int64(0)
			for _, cs := range counted {
				syncs += cs.syncs.Load()
			}
			if tc.noSync && syncs < 6 {
				t.Fatalf("%d store syncs for 6 reservations under PolicyNone/Interval", syncs)
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		l := openLog(t, memstore.New())
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AllocateProducerID(context.Background()); !errors.Is(err, wal.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}
