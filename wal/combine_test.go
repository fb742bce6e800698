package wal_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"

	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// Appenders to one partition that contend for its lock (and so queue
// each other's records, combine.go) get offsets that are dense, each once,
// consecutive within one call, increasing in each appender's own order,
// and the record stored at an offset is the one whose Append returned it;
// under PolicySync, async completions come in offset order. Run with
// -race: the holder writes the waiters' offsets.
func TestConcurrentAppendersOneOffsetOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy wal.Policy
		calls  int
		async  bool
	}{
		{"none", wal.PolicyNone, 3000, false},
		{"sync", wal.PolicySync, 300, false},
		{"sync-async", wal.PolicySync, 300, true},
		{"none-async", wal.PolicyNone, 3000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, memstore.New(), wal.WithPolicy(tc.policy, 0))
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
			const appenders = 4
			type call struct {
				first int64
				n     int
			}
			calls := make([][]call, appenders)
			var mu sync.Mutex
			var told []int64 // async completions' first offsets, in the order told
			var wg sync.WaitGroup
			errs := make(chan error, appenders)
			for g := range appenders {
				wg.Go(func() {
					for i := range tc.calls {
						n := 1 + (g+i)%3
						recs := make([]wal.Record, n)
						for k := range recs {
							recs[k].Payload = fmt.Appendf(nil, "g%d-%d-%d", g, i, k)
							binary.BigEndian.PutUint32(recs[k].MessageID[:], uint32(g+1))
							binary.BigEndian.PutUint32(recs[k].MessageID[4:], uint32(i))
							binary.BigEndian.PutUint32(recs[k].MessageID[8:], uint32(k))
							recs[k].FreshID = k%2 == 0
						}
						var err error
						if tc.async {
							done := make(chan error, 1)
							err = l.AppendAsync(context.Background(), "t", 0, recs, func(err error) {
								mu.Lock()
								told = append(told, recs[0].Offset)
								mu.Unlock()
								done <- err
							})
							if err == nil {
								err = <-done
							}
						} else {
							err = l.Append(context.Background(), "t", 0, recs)
						}
						if err != nil {
							errs <- err
							return
						}
						for k := range recs {
							if recs[k].Duplicate || recs[k].Offset != recs[0].Offset+int64(k) {
								errs <- fmt.Errorf("appender %d call %d: record %d at %d (duplicate %v), the call's first at %d",
									g, i, k, recs[k].Offset, recs[k].Duplicate, recs[0].Offset)
								return
							}
						}
						calls[g] = append(calls[g], call{recs[0].Offset, n})
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var total int
			owner := map[int64]string{}
			for g, cs := range calls {
				for i, c := range cs {
					if i > 0 && c.first <= cs[i-1].first {
						t.Fatalf("appender %d: call %d at %d after call %d at %d", g, i, c.first, i-1, cs[i-1].first)
					}
					for k := range c.n {
						off := c.first + int64(k)
						if o, ok := owner[off]; ok {
							t.Fatalf("offset %d given twice (%s and g%d-%d-%d)", off, o, g, i, k)
						}
						owner[off] = fmt.Sprintf("g%d-%d-%d", g, i, k)
					}
					total += c.n
				}
			}
			if err := l.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, l, "t", 0)
			if len(got) != total {
				t.Fatalf("read %d records, appended %d", len(got), total)
			}
			for off := range int64(total) {
				if want := fmt.Sprintf("%d:%s", off, owner[off]); got[off] != want {
					t.Fatalf("at %d read %q, the append that got it wrote %q", off, got[off], want)
				}
			}
			if tc.async && tc.policy == wal.PolicySync && !slices.IsSorted(told) {
				t.Fatalf("async completions out of offset order: %v", told)
			}
		})
	}
}

// Appenders that contend with the same message ids store each id once:
// dedup runs in whichever critical section queues a record, and every
// duplicate names the first copy's offset.
func TestConcurrentAppendersDedup(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithPolicy(wal.PolicyNone, 0))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	const appenders, ids = 4, 2000
	firstAt := make([][]int64, appenders) // per appender, id -> offset it was told
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for g := range appenders {
		firstAt[g] = make([]int64, ids)
		wg.Go(func() {
			for i := range ids {
				recs := []wal.Record{{Payload: fmt.Appendf(nil, "id-%d", i)}}
				binary.BigEndian.PutUint64(recs[0].MessageID[:], uint64(i+1))
				if err := l.Append(context.Background(), "t", 0, recs); err != nil {
					errs <- err
					return
				}
				firstAt[g][i] = recs[0].Offset
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, end, err := l.Offsets("t", 0); err != nil || end != ids {
		t.Fatalf("end %d (%v), want %d: one copy of each id", end, err, ids)
	}
	got := readAll(t, l, "t", 0)
	for i := range ids {
		off := firstAt[0][i]
		for g := range appenders {
			if firstAt[g][i] != off {
				t.Fatalf("id %d: appender %d told offset %d, appender 0 %d", i, g, firstAt[g][i], off)
			}
		}
		if want := fmt.Sprintf("%d:id-%d", off, i); got[off] != want {
			t.Fatalf("id %d: read %q at %d, want %q", i, got[off], off, want)
		}
	}
}
