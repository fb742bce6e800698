package dlq_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/memory"
)

// recorder is a Republisher that records what it was given and fails the
// failOn-th call (1-based; 0 never).
type recorder struct {
	mu     sync.Mutex
	failOn int
	calls  int
	ids    []uint64
	groups []string
	at     []time.Time
	// during, if set, runs inside each call before it returns.
	during func(l *dlq.Letter)
}

var errRepublish = errors.New("log unavailable")

func (r *recorder) Republish(ctx context.Context, l *dlq.Letter, toGroup string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failOn == r.calls {
		return errRepublish
	}
	if r.during != nil {
		r.during(l)
	}
	r.ids = append(r.ids, l.ID)
	r.groups = append(r.groups, toGroup)
	r.at = append(r.at, time.Now())
	return nil
}

// TestReplayRemovesOnlyAfterRepublish is ACCEPTANCE 26: a Republisher
// that fails on the third letter leaves the first two removed and the
// rest kept.
func TestReplayRemovesOnlyAfterRepublish(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		for i := range 5 {
			add(t, q, letter("orders", "g", i))
		}
		r := &recorder{failOn: 3}
		// Each letter is still queued while it is being re-published.
		r.during = func(l *dlq.Letter) {
			if _, err := q.Get(ctx, l.ID); err != nil {
				t.Errorf("letter %d not queued during Republish: %v", l.ID, err)
			}
		}
		n, err := q.Replay(ctx, dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{})
		if n != 2 || !errors.Is(err, errRepublish) {
			t.Fatalf("Replay = %d, %v; want 2 and the Republish error", n, err)
		}
		if err.Error() == errRepublish.Error() || !strings.Contains(err.Error(), "letter 3") {
			t.Fatalf("Replay error %q does not name letter 3", err)
		}
		if !slices.Equal(r.ids, []uint64{1, 2}) {
			t.Fatalf("re-published %v, want [1 2]", r.ids)
		}
		ls, _ := q.List(ctx, dlq.Filter{Limit: dlq.All})
		if got := ids(ls); !slices.Equal(got, []uint64{3, 4, 5}) {
			t.Fatalf("left %v, want [3 4 5]", got)
		}

		// The rest replays, oldest first, once the log is back.
		r2 := &recorder{}
		if n, err := q.Replay(ctx, dlq.Filter{Limit: dlq.All}, r2, dlq.ReplayOptions{}); n != 3 || err != nil {
			t.Fatalf("second Replay = %d, %v", n, err)
		}
		if !slices.Equal(r2.ids, []uint64{3, 4, 5}) {
			t.Fatalf("second replay re-published %v", r2.ids)
		}
		if c, _ := q.Count(ctx); c != 0 {
			t.Fatalf("Count after replay = %d", c)
		}
	})
}

func TestReplayToOneGroup(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		fill(t, q)
		r := &recorder{}
		n, err := q.Replay(context.Background(), dlq.Filter{Topic: "a", Limit: dlq.All}, r, dlq.ReplayOptions{ToGroup: "g1"})
		if n != 3 || err != nil {
			t.Fatalf("Replay = %d, %v", n, err)
		}
		if !slices.Equal(r.ids, []uint64{1, 2, 5}) || !slices.Equal(r.groups, []string{"g1", "g1", "g1"}) {
			t.Fatalf("re-published %v to %v", r.ids, r.groups)
		}
		// Limit 0 replays nothing.
		if n, err := q.Replay(context.Background(), dlq.Filter{}, r, dlq.ReplayOptions{}); n != 0 || err != nil {
			t.Fatalf("Replay with limit 0 = %d, %v", n, err)
		}
		if c, _ := q.Count(context.Background()); c != 3 {
			t.Fatalf("Count = %d, want 3", c)
		}
	})
}

func TestReplayDoesNotReplayWhatItAdds(t *testing.T) {
	q := open(t, memory.New())
	ctx := context.Background()
	add(t, q, letter("t", "g", 0))
	add(t, q, letter("t", "g", 1))
	// Every re-published message fails again and is dead-lettered anew
	// while Replay still holds the old letter: the new letter replaces the
	// old one (same group, topic, partition, offset), and Replay's removal
	// of the old id must leave the new letter queued.
	r := &recorder{during: func(l *dlq.Letter) {
		again := *l
		if _, err := q.Add(ctx, &again); err != nil {
			t.Errorf("Add: %v", err)
		}
	}}
	if n, err := q.Replay(ctx, dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{}); n != 2 || err != nil {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	ls, _ := q.List(ctx, dlq.Filter{Limit: dlq.All})
	if got := ids(ls); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("left %v, want the new letters [3 4]", got)
	}
}

func TestReplaySkipsLettersRemovedMeanwhile(t *testing.T) {
	q := open(t, memory.New())
	ctx := context.Background()
	for i := range 3 {
		add(t, q, letter("t", "g", i))
	}
	r := &recorder{during: func(l *dlq.Letter) {
		if l.ID == 1 {
			if _, err := q.Remove(ctx, 2); err != nil {
				t.Errorf("Remove: %v", err)
			}
		}
	}}
	if n, err := q.Replay(ctx, dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{}); n != 2 || err != nil {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if !slices.Equal(r.ids, []uint64{1, 3}) {
		t.Fatalf("re-published %v, want [1 3]", r.ids)
	}
}

func TestReplayRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := open(t, memory.New())
		for i := range 5 {
			add(t, q, letter("t", "g", i))
		}
		r := &recorder{}
		start := time.Now()
		n, err := q.Replay(context.Background(), dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{Rate: 10})
		if n != 5 || err != nil {
			t.Fatalf("Replay = %d, %v", n, err)
		}
		if took := time.Since(start); took < 400*time.Millisecond || took > 500*time.Millisecond {
			t.Fatalf("5 letters at 10/s took %v, want 400-500ms", took)
		}
		for i := 1; i < len(r.at); i++ {
			if gap := r.at[i].Sub(r.at[i-1]); gap < 100*time.Millisecond {
				t.Fatalf("gap %d is %v, under 1/rate", i, gap)
			}
		}
	})
}

func TestReplayHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := open(t, memory.New())
		for i := range 5 {
			add(t, q, letter("t", "g", i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		r := &recorder{}
		n, err := q.Replay(ctx, dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{Rate: 10})
		if n != 3 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Replay = %d, %v; want 3 (at 0, 100, 200ms) and the deadline", n, err)
		}
		if c, _ := q.Count(context.Background()); c != 2 {
			t.Fatalf("Count = %d, want 2", c)
		}
	})
}

func TestReplayOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := open(t, memory.New())
		for i := range 4 {
			add(t, q, letter("t", "g", i))
		}
		var (
			r    = &recorder{}
			wg   sync.WaitGroup
			mu   sync.Mutex
			tot  int
			errs []error
		)
		for range 2 {
			wg.Go(func() {
				n, err := q.Replay(context.Background(), dlq.Filter{Limit: dlq.All}, r, dlq.ReplayOptions{Rate: 100})
				mu.Lock()
				tot += n
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		wg.Wait()
		if tot != 4 || errors.Join(errs...) != nil {
			t.Fatalf("two concurrent replays re-published %d (%v), errors %v; want 4 in all", tot, r.ids, errs)
		}
	})
}

func TestReplayValidatesOptions(t *testing.T) {
	q := open(t, memory.New())
	ctx := context.Background()
	for _, rate := range []float64{-1, 0.0001, 2e9} {
		if _, err := q.Replay(ctx, dlq.Filter{Limit: 1}, &recorder{}, dlq.ReplayOptions{Rate: rate}); !errors.Is(err, dlq.ErrInvalidOption) {
			t.Errorf("rate %v: %v", rate, err)
		}
	}
	if _, err := q.Replay(ctx, dlq.Filter{Limit: 1}, nil, dlq.ReplayOptions{}); !errors.Is(err, dlq.ErrInvalidOption) {
		t.Errorf("nil republisher: %v", err)
	}
}
