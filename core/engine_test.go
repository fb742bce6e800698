package core_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// Regression tests of the delivery engine (issue 9). The crash-driven ones
// are in engine_crash_test.go.

// orderings lists every ordering mode, for tests that must hold in each.
var orderings = []struct {
	name string
	opt  core.SubscribeOption
}{
	{"partition", core.SubscribeOrdering(core.OrderPartition, 1)},
	{"key", core.SubscribeOrdering(core.OrderKey, 4)},
	{"none", core.SubscribeOrdering(core.OrderNone, 4)},
}

// viewFlakyStore fails the next n read transactions.
type viewFlakyStore struct {
	store.Store
	fails atomic.Int32
}

func (f *viewFlakyStore) View(fn func(store.Tx) error) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("transient read failure")
	}
	return f.Store.View(fn)
}

// The parallel loops used to wait for good after one failed read (they
// waited without a notify channel); every loop now shares one read path
// that retries.
func TestReadErrorRetriedInEveryOrdering(t *testing.T) {
	for _, o := range orderings {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &viewFlakyStore{Store: memstore.New()}
				b, err := core.New(core.WithStore(st), core.WithDurability(core.DurabilityNone, 0))
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close(context.Background())
				ctx := context.Background()
				for i := range 5 {
					if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Key: []byte{byte('a' + i)}, Value: []byte("v")}); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				st.fails.Store(3)
				h, got := collector(10)
				if _, err := b.Subscribe(ctx, "t1", "g", h, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
					t.Fatal(err)
				}
				for i := range 5 {
					select {
					case <-got:
					case <-time.After(time.Minute):
						t.Fatalf("%d of 5 delivered: the loop stalled after a failed read", i)
					}
				}
			})
		})
	}
}

// A handler that calls runtime.Goexit (t.Fatal in a test handler) used to
// stop its partition for good while Health said all was well. Now the
// call counts as a failed attempt, Health counts it, and the partition
// goes on; one that always exits is dead-lettered with the reason.
func TestHandlerGoexitIsAFailure(t *testing.T) {
	for _, o := range orderings {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := memBusT(t, core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
				ctx := context.Background()
				var exits atomic.Int32
				got := make(chan string, 10)
				if _, err := b.Subscribe(ctx, "t1", "g", func(_ context.Context, m *core.Message) error {
					switch string(m.Value) {
					case "exit-twice":
						if exits.Add(1) <= 2 {
							runtime.Goexit()
						}
					case "exit-always":
						runtime.Goexit()
					}
					got <- string(m.Value)
					return nil
				}, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
					t.Fatal(err)
				}
				for _, v := range []string{"exit-twice", "exit-always", "after"} {
					if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Key: []byte("k"), Value: []byte(v)}); err != nil {
						t.Fatal(err)
					}
				}
				seen := map[string]bool{}
				for range 2 {
					select {
					case v := <-got:
						seen[v] = true
					case <-time.After(time.Minute):
						t.Fatalf("delivered %v of exit-twice and after: the partition stopped", seen)
					}
				}
				if !seen["exit-twice"] || !seen["after"] {
					t.Fatalf("delivered %v, want exit-twice and after", seen)
				}
				synctest.Wait()
				if n := b.Health().HandlerExits; n != 5 {
					t.Errorf("Health.HandlerExits = %d, want 5 (2 + 3)", n)
				}
				letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
				if err != nil || len(letters) != 1 || string(letters[0].Value) != "exit-always" ||
					!strings.Contains(letters[0].Error, "runtime.Goexit") || letters[0].Attempts != 3 {
					t.Fatalf("dead letters %+v, %v; want exit-always with 3 attempts and the Goexit reason", letters, err)
				}
			})
		})
	}
}

// Close and Unsubscribe called with context.Background() from inside a
// handler used to wait for that handler forever.
func TestCloseAndUnsubscribeFromInsideHandler(t *testing.T) {
	for _, o := range orderings {
		t.Run(o.name+"/unsubscribe", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := memBusT(t)
				ctx := context.Background()
				var sub *core.Subscription
				returned := make(chan error, 1)
				subscribed := make(chan struct{})
				var err error
				sub, err = b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
					<-subscribed
					returned <- sub.Unsubscribe(context.Background())
					return nil
				}, core.SubscribeStart(core.StartEarliest), o.opt)
				if err != nil {
					t.Fatal(err)
				}
				close(subscribed)
				if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				select {
				case err := <-returned:
					if err != nil {
						t.Fatalf("Unsubscribe from the handler: %v", err)
					}
				default:
					t.Fatal("Unsubscribe(context.Background()) from inside the handler did not return")
				}
			})
		})
		t.Run(o.name+"/close", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, err := core.New(core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0))
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				returned := make(chan error, 1)
				if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
					returned <- b.Close(context.Background())
					return nil
				}, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				select {
				case err := <-returned:
					if err != nil {
						t.Fatalf("Close from the handler: %v", err)
					}
				default:
					t.Fatal("Close(context.Background()) from inside the handler did not return")
				}
				// The shutdown finishes once the handler has returned.
				if err := b.Close(ctx); err != nil {
					t.Fatalf("Close after: %v", err)
				}
				if _, err := b.Publish(ctx, msg("t1", "y")); !errors.Is(err, core.ErrClosed) {
					t.Fatalf("Publish after Close: %v, want ErrClosed", err)
				}
			})
		})
	}
}

// The retry policy and ordering are the group's: a member asking for
// others is refused, one asking for the same joins, and once every
// member has left the next one sets them anew.
func TestGroupSettingsConflictRefused(t *testing.T) {
	b := memBusT(t)
	ctx := context.Background()
	h := func(context.Context, *core.Message) error { return nil }
	fast := core.SubscribeRetry(core.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: time.Second})
	first, err := b.Subscribe(ctx, "t1", "g", h, fast)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []core.SubscribeOption
	}{
		{"other retry", []core.SubscribeOption{core.SubscribeRetry(core.DefaultRetryPolicy())}},
		{"default retry", nil},
		{"other ordering", []core.SubscribeOption{fast, core.SubscribeOrdering(core.OrderKey, 16)}},
		{"other concurrency", []core.SubscribeOption{fast, core.SubscribeOrdering(core.OrderPartition, 2)}},
	} {
		if _, err := b.Subscribe(ctx, "t1", "g", h, tc.opts...); !errors.Is(err, core.ErrGroupSettings) {
			t.Errorf("%s: Subscribe = %v, want ErrGroupSettings", tc.name, err)
		}
	}
	same, err := b.Subscribe(ctx, "t1", "g", h, fast, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatalf("same settings, other start position: %v", err)
	}
	if _, err := b.Subscribe(ctx, "t1", "other", h); err != nil {
		t.Fatalf("another group with its own settings: %v", err)
	}
	for _, s := range []*core.Subscription{first, same} {
		if err := s.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Subscribe(ctx, "t1", "g", h, core.SubscribeOrdering(core.OrderNone, 8)); err != nil {
		t.Fatalf("first member after all left: %v", err)
	}
	if _, err := b.Subscribe(ctx, "t1", "g", h, nil); !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("nil SubscribeOption: %v, want ErrInvalidConfig", err)
	}
}

// Subscribe's ctx bounds only the call: cancelling it afterwards does not
// end the subscription.
func TestSubscribeContextBoundsOnlyTheCall(t *testing.T) {
	b := memBusT(t)
	ctx, cancel := context.WithCancel(context.Background())
	h, got := collector(1)
	if _, err := b.Subscribe(ctx, "t1", "g", h); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := b.Publish(context.Background(), msg("t1", "after cancel")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Value) != "after cancel" {
			t.Fatalf("got %q", m.Value)
		}
	case <-time.After(wait):
		t.Fatal("no delivery after Subscribe's ctx was cancelled")
	}
	if _, err := b.Subscribe(ctx, "t1", "g2", h); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a cancelled ctx: %v, want context.Canceled", err)
	}
}

// A message only ever given back with ErrReleased costs no attempt, not
// even one counted before the call, across clean restarts: it is never
// dead-lettered for it, and each delivery says attempt 1.
func TestReleasedAcrossCleanRestartsCountsNoAttempt(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *core.Bus {
		t.Helper()
		b, err := core.New(core.WithDataDir(dir), core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	if _, err := b.Publish(ctx, msg("t1", "released")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for life := range 5 {
		b := open()
		seen := make(chan int, 100)
		if _, err := b.Subscribe(ctx, "t1", "g", func(hctx context.Context, _ *core.Message) error {
			d, _ := core.Delivery(hctx)
			select {
			case seen <- d.Attempt:
			default:
			}
			return core.ErrReleased
		}, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-seen:
			if n != 1 {
				t.Errorf("life %d: delivered as attempt %d, want 1", life, n)
			}
		case <-time.After(wait):
			t.Fatalf("life %d: never delivered", life)
		}
		letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
		if err != nil || len(letters) != 0 {
			t.Fatalf("life %d: dead letters %+v, %v; want none", life, letters, err)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// memBusT is a memory bus closed at the end of the test.
func memBusT(t *testing.T, opts ...core.Option) *core.Bus {
	t.Helper()
	b, err := core.New(append([]core.Option{core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// markCountingStore counts the writes of in-flight marks: puts into the
// log's "inflight" bucket (the wal's name for it).
type markCountingStore struct {
	store.Store
	marks atomic.Int64
}

func (s *markCountingStore) Update(fn func(store.Tx) error) error {
	return s.Store.Update(func(tx store.Tx) error { return fn(markCountingTx{tx, &s.marks}) })
}

type markCountingTx struct {
	store.Tx
	marks *atomic.Int64
}

func (tx markCountingTx) CreateBucket(name []byte) (store.Bucket, error) {
	b, err := tx.Tx.CreateBucket(name)
	if err != nil || string(name) != "inflight" {
		return b, err
	}
	return markCountingBucket{b, tx.marks}, nil
}

type markCountingBucket struct {
	store.Bucket
	marks *atomic.Int64
}

func (b markCountingBucket) Put(k, v []byte) error {
	b.marks.Add(1)
	return b.Bucket.Put(k, v)
}

// A parallel loop used to write (and, under the sync policy, wait for) a
// fresh in-flight mark for every batch it read past the last mark: one
// durable commit per 64 records while it filled its window, so under load
// every loop waited in MarkInFlight. Marks now reach well past what was
// read: one per 256 records at most.
func TestParallelLoopMarksAhead(t *testing.T) {
	for _, o := range orderings[1:] {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &markCountingStore{Store: memstore.New()}
				b, err := core.New(core.WithStore(st), core.WithDurability(core.DurabilitySync, 0))
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close(context.Background())
				ctx := context.Background()
				const n = 4096
				batch := make([]*core.Message, n)
				for i := range batch {
					batch[i] = &core.Message{Topic: "t1", Key: []byte{byte(i), byte(i >> 8)}}
				}
				if err := b.PublishBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
				var got atomic.Int64
				if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
					got.Add(1)
					return nil
				}, core.SubscribeStart(core.StartEarliest), o.opt); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if got.Load() != n {
					t.Fatalf("delivered %d of %d", got.Load(), n)
				}
				t.Logf("%d in-flight marks written to deliver %d messages", st.marks.Load(), n)
				if m := st.marks.Load(); m > n/256+1 {
					t.Fatalf("%d in-flight marks written to deliver %d messages, want at most %d", m, n, n/256+1)
				}
			})
		})
	}
}
