package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
)

func TestAddGet(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		want := letter("orders", "billing", 1)
		id := add(t, q, want)
		if id != 1 || want.ID != 1 {
			t.Fatalf("first id = %d (letter %d), want 1", id, want.ID)
		}
		got, err := q.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !sameLetter(got, *want) {
			t.Fatalf("Get = %+v\nwant %+v", got, *want)
		}
		// The returned letter owns its slices.
		got.Key[0], got.Headers[0].Value = 'X', "changed"
		again, _ := q.Get(ctx, id)
		if !sameLetter(again, *want) {
			t.Fatalf("changing a returned letter changed the stored one")
		}
		if _, err := q.Get(ctx, 99); !errors.Is(err, dlq.ErrNotFound) {
			t.Fatalf("Get(99) = %v, want ErrNotFound", err)
		}
	})
}

func TestAddNilAndEmptyFieldsRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st, dlq.WithClock(func() time.Time { return t0 }))
		cases := []*dlq.Letter{
			{Topic: "t"},
			{Topic: "t", Key: []byte{}, Value: []byte{}, Headers: []dlq.Header{}},
			{Topic: "t", Headers: []dlq.Header{{}}, Offset: -1},
		}
		for _, l := range cases {
			in := *l
			id := add(t, q, l)
			got, err := q.Get(context.Background(), id)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			in.ID, in.DeadLetteredAt = id, t0
			if !sameLetter(got, in) {
				t.Errorf("round trip of %+v gave %+v", in, got)
			}
		}
	})
}

func TestAddRejectsInvalidLetters(t *testing.T) {
	q := open(t, backends[0].open(t))
	for name, l := range map[string]*dlq.Letter{
		"nil":               nil,
		"empty topic":       {Group: "g"},
		"negative part":     {Topic: "t", Partition: -1},
		"negative attempts": {Topic: "t", Attempts: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := q.Add(context.Background(), l); !errors.Is(err, dlq.ErrInvalidLetter) {
				t.Fatalf("Add = %v, want ErrInvalidLetter", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Add(ctx, letter("t", "g", 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with a cancelled context = %v", err)
	}
}

func TestIDsIncreaseAndAreNeverReused(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		var got []uint64
		for i := range 5 {
			got = append(got, add(t, q, letter("t", "g", i)))
		}
		if !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
			t.Fatalf("ids = %v", got)
		}
		if _, err := q.Purge(context.Background(), dlq.Filter{Limit: dlq.All}); err != nil {
			t.Fatal(err)
		}
		if id := add(t, q, letter("t", "g", 9)); id != 6 {
			t.Fatalf("id after purging every letter = %d, want 6", id)
		}
	})
}

func TestIDsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dlq.db")
	reopen := func() (store.Store, *dlq.Queue) {
		st, err := bolt.Open(path)
		if err != nil {
			t.Fatalf("bolt.Open: %v", err)
		}
		q, err := dlq.Open(st)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return st, q
	}
	st, q := reopen()
	for i := range 3 {
		add(t, q, letter("t", "g", i))
	}
	if n, err := q.Remove(context.Background(), 3); n != 1 || err != nil {
		t.Fatalf("Remove(3) = %d, %v", n, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, q = reopen()
	defer st.Close()
	t.Cleanup(func() { checkInvariants(t, st) })
	if id := add(t, q, letter("t", "g", 7)); id != 4 {
		t.Fatalf("id after reopen = %d, want 4 (3 was removed, not to be reused)", id)
	}
	ls, err := q.List(context.Background(), dlq.Filter{Limit: dlq.All})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(ls), []uint64{1, 2, 4}) {
		t.Fatalf("ids after reopen = %v", ids(ls))
	}
	if n, _ := q.Count(context.Background()); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
}

// fill adds 6 letters: topics a,a,b,b,a,b; groups g1,g2 alternating;
// DeadLetteredAt t0+i hours; errors "boom a".."boom f" (letter 3 says
// "timeout" instead).
func fill(t *testing.T, q *dlq.Queue) {
	t.Helper()
	topics := []string{"a", "a", "b", "b", "a", "b"}
	for i, topic := range topics {
		l := letter(topic, fmt.Sprintf("g%d", i%2+1), i)
		if i == 2 {
			l.Error = "handler: timeout after 5s"
		}
		add(t, q, l)
	}
}

func TestListFilters(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		fill(t, q)
		for _, tc := range []struct {
			name string
			f    dlq.Filter
			want []uint64
		}{
			{"all", dlq.Filter{Limit: dlq.All}, []uint64{1, 2, 3, 4, 5, 6}},
			{"limit zero selects none", dlq.Filter{}, nil},
			{"limit", dlq.Filter{Limit: 2}, []uint64{1, 2}},
			{"topic", dlq.Filter{Topic: "b", Limit: dlq.All}, []uint64{3, 4, 6}},
			{"group", dlq.Filter{Group: "g2", Limit: dlq.All}, []uint64{2, 4, 6}},
			{"topic and group", dlq.Filter{Topic: "a", Group: "g1", Limit: dlq.All}, []uint64{1, 5}},
			{"error contains", dlq.Filter{ErrorContains: "timeout", Limit: dlq.All}, []uint64{3}},
			{"since inclusive", dlq.Filter{Since: t0.Add(4 * time.Hour), Limit: dlq.All}, []uint64{5, 6}},
			{"until exclusive", dlq.Filter{Until: t0.Add(2 * time.Hour), Limit: dlq.All}, []uint64{1, 2}},
			{"since and until", dlq.Filter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour), Limit: dlq.All}, []uint64{2, 3}},
			{"ids unsorted with duplicates and unknowns", dlq.Filter{IDs: []uint64{6, 2, 2, 99, 0}, Limit: dlq.All}, []uint64{2, 6}},
			{"ids and topic", dlq.Filter{IDs: []uint64{1, 3, 4}, Topic: "b", Limit: dlq.All}, []uint64{3, 4}},
			{"ids and limit", dlq.Filter{IDs: []uint64{5, 4, 3}, Limit: 2}, []uint64{3, 4}},
			{"topic and limit", dlq.Filter{Topic: "b", Limit: 2}, []uint64{3, 4}},
			{"no match", dlq.Filter{Topic: "zzz", Limit: dlq.All}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ls, err := q.List(context.Background(), tc.f)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if got := ids(ls); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
					t.Fatalf("List ids = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestInvalidFilters(t *testing.T) {
	q := open(t, backends[0].open(t))
	ctx := context.Background()
	for name, f := range map[string]dlq.Filter{
		"negative limit":     {Limit: -1},
		"until before since": {Since: t0, Until: t0.Add(-time.Second), Limit: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := q.List(ctx, f); !errors.Is(err, dlq.ErrInvalidFilter) {
				t.Errorf("List = %v", err)
			}
			if _, err := q.Purge(ctx, f); !errors.Is(err, dlq.ErrInvalidFilter) {
				t.Errorf("Purge = %v", err)
			}
			if _, err := q.Replay(ctx, f, &recorder{}, dlq.ReplayOptions{}); !errors.Is(err, dlq.ErrInvalidFilter) {
				t.Errorf("Replay = %v", err)
			}
		})
	}
}

func TestListPagesPastOnePage(t *testing.T) {
	q := open(t, backends[0].open(t))
	const n = 2500 // more than two pages
	for i := range n {
		add(t, q, letter(fmt.Sprintf("t%d", i%2), "g", i))
	}
	ls, err := q.List(context.Background(), dlq.Filter{Topic: "t1", Limit: dlq.All})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != n/2 || ls[0].ID != 2 || ls[len(ls)-1].ID != n {
		t.Fatalf("List returned %d letters, ids %d..%d", len(ls), ls[0].ID, ls[len(ls)-1].ID)
	}
	if purged, err := q.Purge(context.Background(), dlq.Filter{Limit: 2000}); purged != 2000 || err != nil {
		t.Fatalf("Purge = %d, %v", purged, err)
	}
	if c, _ := q.Count(context.Background()); c != n-2000 {
		t.Fatalf("Count = %d", c)
	}
}

func TestRemoveAndCount(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		if c, err := q.Count(ctx); c != 0 || err != nil {
			t.Fatalf("Count of an empty queue = %d, %v", c, err)
		}
		fill(t, q)
		if n, err := q.Remove(ctx, 2, 4, 4, 42); n != 2 || err != nil {
			t.Fatalf("Remove = %d, %v; want 2", n, err)
		}
		if n, err := q.Remove(ctx); n != 0 || err != nil {
			t.Fatalf("Remove() = %d, %v", n, err)
		}
		if c, _ := q.Count(ctx); c != 4 {
			t.Fatalf("Count = %d, want 4", c)
		}
		if _, err := q.Get(ctx, 2); !errors.Is(err, dlq.ErrNotFound) {
			t.Fatalf("Get of a removed letter = %v", err)
		}
	})
}

func TestPurgeByFilter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		fill(t, q)
		if n, err := q.Purge(ctx, dlq.Filter{Topic: "b"}); n != 0 || err != nil {
			t.Fatalf("Purge with limit 0 = %d, %v; want 0: a forgotten limit purges nothing", n, err)
		}
		if n, err := q.Purge(ctx, dlq.Filter{Topic: "b", Limit: dlq.All}); n != 3 || err != nil {
			t.Fatalf("Purge topic b = %d, %v", n, err)
		}
		if n, err := q.Purge(ctx, dlq.Filter{Group: "g1", Limit: 1}); n != 1 || err != nil {
			t.Fatalf("Purge group g1 limit 1 = %d, %v", n, err)
		}
		ls, _ := q.List(ctx, dlq.Filter{Limit: dlq.All})
		if got := ids(ls); !slices.Equal(got, []uint64{2, 5}) {
			t.Fatalf("left after purges: %v, want [2 5]", got)
		}
		if c, _ := q.Count(ctx); c != 2 {
			t.Fatalf("Count = %d", c)
		}
	})
}

// TestAddRedactsAndCapsError is ACCEPTANCE 18: the error text is capped
// and secrets are redacted before the letter is stored.
func TestAddRedactsAndCapsError(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st, dlq.WithMaxErrorLen(100))
		ctx := context.Background()
		l := letter("t", "g", 0)
		l.Error = "connect postgres://app:hunter2@db:5432/x: password=hunter2 token=abc " + strings.Repeat("x", 300)
		id := add(t, q, l)
		got, err := q.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got.Error, "hunter2") || strings.Contains(got.Error, "abc") {
			t.Fatalf("stored error holds a secret: %q", got.Error)
		}
		if len(got.Error) > 100 || !strings.HasSuffix(got.Error, dlq.TruncatedMarker) {
			t.Fatalf("stored error is %d bytes, %q", len(got.Error), got.Error)
		}
		if l.Error != got.Error {
			t.Fatalf("Add left l.Error = %q, stored %q", l.Error, got.Error)
		}
		want := "connect postgres://app:[REDACTED]@db:5432/x: password=[REDACTED] token=[REDACTED] "
		if !strings.HasPrefix(got.Error, want) {
			t.Fatalf("stored error %q, want prefix %q", got.Error, want)
		}
		if ls, _ := q.List(ctx, dlq.Filter{ErrorContains: "hunter2", Limit: dlq.All}); len(ls) != 0 {
			t.Fatalf("a filter found the secret")
		}
	})
}

func TestConcurrentAdd(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		const writers, each = 10, 20
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen []uint64
		)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					id, err := q.Add(context.Background(), letter(fmt.Sprintf("t%d", w), "g", i))
					if err != nil {
						t.Errorf("Add: %v", err)
						return
					}
					mu.Lock()
					seen = append(seen, id)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seen)
		for i, id := range seen {
			if id != uint64(i+1) {
				t.Fatalf("ids %v are not 1..%d each once", seen, writers*each)
			}
		}
		if c, _ := q.Count(context.Background()); c != writers*each {
			t.Fatalf("Count = %d", c)
		}
	})
}

func TestCorruptLetter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		fill(t, q)
		corrupt(t, st, 3)
		_, err := q.Get(ctx, 3)
		var ce *dlq.CorruptError
		if !errors.As(err, &ce) || ce.ID != 3 || !errors.Is(err, dlq.ErrCorrupt) || !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("Get of a corrupt letter = %v, want a CorruptError for id 3", err)
		}
		if _, err := q.List(ctx, dlq.Filter{Limit: dlq.All}); !errors.As(err, &ce) || ce.ID != 3 {
			t.Fatalf("List over a corrupt letter = %v", err)
		}
		// Letters before it still list; ids skip it.
		if ls, err := q.List(ctx, dlq.Filter{IDs: []uint64{1, 2, 4}, Limit: dlq.All}); err != nil || len(ls) != 3 {
			t.Fatalf("List by ids around the corrupt letter = %d letters, %v", len(ls), err)
		}
		if n, err := q.Remove(ctx, 3); n != 1 || err != nil {
			t.Fatalf("Remove of a corrupt letter = %d, %v", n, err)
		}
		corrupt(t, st, 5)
		if n, err := q.Purge(ctx, dlq.Filter{Limit: dlq.All}); n != 5 || err != nil {
			t.Fatalf("Purge everything over a corrupt letter = %d, %v", n, err)
		}
	})
}

func TestOpenValidatesOptions(t *testing.T) {
	_, err := dlq.Open(backends[0].open(t), dlq.WithMaxErrorLen(1), dlq.WithClock(nil))
	if !errors.Is(err, dlq.ErrInvalidOption) || !strings.Contains(err.Error(), "max error length") || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("Open = %v, want both problems reported", err)
	}
	if _, err := dlq.Open(nil); !errors.Is(err, dlq.ErrInvalidOption) {
		t.Fatalf("Open(nil) = %v", err)
	}
	if _, err := dlq.Open(backends[0].open(t), dlq.WithLogger(nil)); err != nil {
		t.Fatalf("Open with a nil logger = %v", err)
	}
}

func TestOpenRepairsMetadata(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		fill(t, q)
		err := st.Update(func(tx store.Tx) error {
			meta := tx.Bucket(dlq.BucketMeta)
			if err := meta.Put([]byte("count"), make([]byte, 8)); err != nil {
				return err
			}
			return meta.Put([]byte("next"), []byte{0, 0, 0, 0, 0, 0, 0, 2})
		})
		if err != nil {
			t.Fatal(err)
		}
		q = open(t, st)
		if c, _ := q.Count(context.Background()); c != 6 {
			t.Fatalf("Count after repair = %d, want 6", c)
		}
		if id := add(t, q, letter("t", "g", 0)); id != 7 {
			t.Fatalf("id after repair = %d, want 7", id)
		}
	})
}

func TestOpenRejectsNewerFormat(t *testing.T) {
	st := backends[0].open(t)
	if err := st.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket(dlq.BucketMeta)
		if err != nil {
			return err
		}
		return b.Put([]byte("version"), []byte{9})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := dlq.Open(st); !errors.Is(err, dlq.ErrUnsupportedVersion) {
		t.Fatalf("Open = %v, want ErrUnsupportedVersion", err)
	}
}

func TestClosedStore(t *testing.T) {
	st := backends[0].open(t)
	q, err := dlq.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := q.Add(context.Background(), letter("t", "g", 0)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Add on a closed store = %v", err)
	}
}

func TestAddSameMessageReplacesItsLetter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		first := letter("orders", "billing", 1)
		add(t, q, first)
		other := letter("orders", "shipping", 1) // same message, another group
		add(t, q, other)

		again := letter("orders", "billing", 1)
		again.Attempts, again.Error = 4, "handler: still failing"
		id := add(t, q, again)
		if id != 3 {
			t.Fatalf("id of the re-added message = %d, want a new id 3", id)
		}
		ls, _ := q.List(ctx, dlq.Filter{Limit: dlq.All})
		if got := ids(ls); !slices.Equal(got, []uint64{2, 3}) {
			t.Fatalf("letters %v, want [2 3]: the old billing letter replaced, the shipping one kept", got)
		}
		if ls[1].Attempts != 4 || ls[1].Error != "handler: still failing" {
			t.Fatalf("replacing letter = %+v", ls[1])
		}
		if c, _ := q.Count(ctx); c != 2 {
			t.Fatalf("Count = %d, want 2", c)
		}

		// Once removed, the same message is a new letter again.
		if n, _ := q.Remove(ctx, 3); n != 1 {
			t.Fatal("Remove(3) removed nothing")
		}
		if id := add(t, q, letter("orders", "billing", 1)); id != 4 {
			t.Fatalf("id = %d, want 4", id)
		}
		if c, _ := q.Count(ctx); c != 2 {
			t.Fatalf("Count = %d, want 2", c)
		}

		// Letters without a log offset are never merged.
		for range 2 {
			l := letter("orders", "billing", 0)
			l.Offset = -1
			add(t, q, l)
		}
		if c, _ := q.Count(ctx); c != 4 {
			t.Fatalf("Count = %d, want 4", c)
		}
	})
}

// AfterID pages through the queue: each page starts after the last id of
// the one before, with and without an id list.
func TestListAfterID(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		q := open(t, st)
		ctx := context.Background()
		var ids []uint64
		for i := range 5 {
			id, err := q.Add(ctx, &dlq.Letter{Topic: "t", Offset: int64(i), Group: "g", Error: "e"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		page, err := q.List(ctx, dlq.Filter{AfterID: ids[1], Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[3] {
			t.Fatalf("page after %d: %v, %v", ids[1], page, err)
		}
		page, err = q.List(ctx, dlq.Filter{AfterID: ids[3], IDs: ids, Limit: dlq.All})
		if err != nil || len(page) != 1 || page[0].ID != ids[4] {
			t.Fatalf("ids after %d: %v, %v", ids[3], page, err)
		}
		page, err = q.List(ctx, dlq.Filter{AfterID: ids[4], IDs: ids[:2], Limit: dlq.All})
		if err != nil || len(page) != 0 {
			t.Fatalf("nothing after the last id: %v, %v", page, err)
		}
	})
}
