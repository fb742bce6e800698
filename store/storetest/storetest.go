package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Run runs the conformance suite on the stores open returns: one fresh,
// empty store per subtest, closed by the suite on cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"PutErrors", testPutErrors},
		{"EmptyKey", testEmptyKey},
		{"Ordering", testOrdering},
		{"ManyKeys", testManyKeys},
		{"Cursor", testCursor},
		{"CursorWrites", testCursorWrites},
		{"Buckets", testBuckets},
		{"ForEachBucket", testForEachBucket},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewPanic", testViewPanic},
		{"ViewNotWritable", testViewNotWritable},
		{"TxClosed", testTxClosed},
		{"ValuesCopied", testValuesCopied},
		{"LargeValues", testLargeValues},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"ConcurrentViewsAndUpdate", testConcurrent},
		{"Close", testClose},
		{"CloseWaits", testCloseWaits},
		{"Retainer", testRetainer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// RunReopen checks that a durable store keeps committed data, and only
// committed data, across Close and a new open of the same dir. open must
// open (or create) the store kept in dir.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Helper()
	t.Run("Reopen", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		update(t, s, func(tx store.Tx) error {
			for _, name := range []string{"a", "b", "gone"} {
				b, err := bucket(tx, name)
				if err != nil {
					return err
				}
				for i := range 1000 {
					if err := b.Put(be(uint64(i)), []byte(fmt.Sprintf("%s-%d", name, i))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		update(t, s, func(tx store.Tx) error {
			for i := range 500 {
				if err := tx.Bucket([]byte("a")).Delete(be(uint64(i))); err != nil {
					return err
				}
			}
			if err := tx.Bucket([]byte("b")).Put([]byte("empty"), nil); err != nil {
				return err
			}
			return tx.DeleteBucket([]byte("gone"))
		})
		errBoom := errors.New("boom")
		if err := s.Update(func(tx store.Tx) error {
			if err := tx.Bucket([]byte("a")).Put([]byte("rolled back"), []byte("x")); err != nil {
				return err
			}
			return errBoom
		}); !errors.Is(err, errBoom) {
			t.Fatalf("Update: %v, want %v", err, errBoom)
		}
		want := dump(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = open(t, dir)
		defer func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		wantDump(t, s, want...)
		view(t, s, func(tx store.Tx) error {
			if v := tx.Bucket([]byte("b")).Get([]byte("empty")); v == nil || len(v) != 0 {
				return fmt.Errorf("empty value after reopen: %q, want non-nil empty", str(v))
			}
			return nil
		})
		putAll(t, s, "a", "after", "reopen")
		view(t, s, func(tx store.Tx) error {
			if v := tx.Bucket([]byte("a")).Get([]byte("after")); string(v) != "reopen" {
				return fmt.Errorf("Get after reopen = %q", str(v))
			}
			return nil
		})
	})
}

// be is an 8-byte big-endian key, the log's offsets.
func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func testPutGetDelete(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k1", "v1", "k2", "", "k3", "v3", "k3", "v3b", "\x00\xff", "bin")
	update(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("nilvalue"), nil); err != nil {
			return err
		}
		// Reads inside the Update see its own writes.
		if v := b.Get([]byte("nilvalue")); v == nil || len(v) != 0 {
			return fmt.Errorf("Get of nil value in same Update = %q, want non-nil empty", str(v))
		}
		if err := b.Delete([]byte("k1")); err != nil {
			return err
		}
		if v := b.Get([]byte("k1")); v != nil {
			return fmt.Errorf("Get after Delete in same Update = %q", v)
		}
		return b.Delete([]byte("absent"))
	})
	tests := []struct {
		key  string
		want string
	}{
		{"k1", "<nil>"},
		{"k2", ""},
		{"k3", "v3b"},
		{"\x00\xff", "bin"},
		{"nilvalue", ""},
		{"absent", "<nil>"},
		{"k", "<nil>"},
		{"k30", "<nil>"},
	}
	view(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, tt := range tests {
			if got := str(b.Get([]byte(tt.key))); got != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.want)
			}
		}
		return nil
	})
}

func testPutErrors(t *testing.T, s store.Store) {
	maxKey := bytes.Repeat([]byte{'k'}, store.MaxKeySize)
	tests := []struct {
		name       string
		key, value []byte
		want       error
	}{
		{"nil key", nil, []byte("v"), store.ErrKeyRequired},
		{"empty key", []byte{}, []byte("v"), store.ErrKeyRequired},
		{"key too large", append(slices.Clone(maxKey), 'k'), []byte("v"), store.ErrKeyTooLarge},
		{"largest key", maxKey, []byte("v"), nil},
	}
	if !testing.Short() {
		// The OS hands out fresh zero pages lazily, so this costs little
		// unless the backend reads the value before checking its length.
		tests = append(tests, struct {
			name       string
			key, value []byte
			want       error
		}{"value too large", []byte("k"), make([]byte, store.MaxValueSize+1), store.ErrValueTooLarge})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			update(t, s, func(tx store.Tx) error {
				b, berr := bucket(tx, "b")
				if berr != nil {
					return berr
				}
				err = b.Put(tt.key, tt.value)
				return nil
			})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
		})
	}
	view(t, s, func(tx store.Tx) error {
		if v := tx.Bucket([]byte("b")).Get(maxKey); string(v) != "v" {
			return fmt.Errorf("Get(largest key) = %q", str(v))
		}
		return nil
	})
}

func testEmptyKey(t *testing.T, s store.Store) {
	putAll(t, s, "b", "a", "1")
	update(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get(nil); v != nil {
			return fmt.Errorf("Get(nil) = %q", v)
		}
		if err := b.Delete(nil); err != nil {
			return fmt.Errorf("Delete(nil) = %w, want nil", err)
		}
		if k, _ := b.Cursor().Seek(nil); string(k) != "a" {
			return fmt.Errorf("Seek(nil) = %q, want a", str(k))
		}
		return nil
	})
	wantDump(t, s, "b/a=1")
}

func testOrdering(t *testing.T, s store.Store) {
	keys := []string{"b", "a\x00", "\xff", "ab", "a", "\x00", "aa", "ba", "\xff\xff", "a\xff"}
	var kv []string
	for _, k := range keys {
		kv = append(kv, k, "v"+k)
	}
	putAll(t, s, "b", kv...)
	want := slices.Clone(keys)
	slices.Sort(want) // Go strings compare bytewise, like bytes.Compare
	for i, k := range want {
		want[i] = "b/" + k + "=v" + k
	}
	wantDump(t, s, want...)
}

// testManyKeys inserts enough keys in random order to split whatever nodes
// the backend has, then deletes some of them, checking order each time.
func testManyKeys(t *testing.T, s store.Store) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	const n = 5000
	perm := rng.Perm(n)
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, "b")
		if err != nil {
			return err
		}
		for _, i := range perm {
			if err := b.Put(be(uint64(i)), be(uint64(i*2))); err != nil {
				return err
			}
		}
		return nil
	})
	deleted := make(map[int]bool)
	update(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, i := range perm[:n/3] {
			deleted[i] = true
			if err := b.Delete(be(uint64(i))); err != nil {
				return err
			}
		}
		// The retention pattern: drop the first keys.
		for i := range 100 {
			deleted[i] = true
			if err := b.Delete(be(uint64(i))); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		next := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for deleted[next] {
				next++
			}
			if !bytes.Equal(k, be(uint64(next))) || !bytes.Equal(v, be(uint64(next*2))) {
				return fmt.Errorf("walk: got %x=%x, want key %d", k, v, next)
			}
			next++
		}
		for deleted[next] {
			next++
		}
		if next != n {
			return fmt.Errorf("walk stopped before key %d of %d", next, n)
		}
		for i := range n {
			k, _ := c.Seek(be(uint64(i)))
			want := i
			for deleted[want] {
				want++
			}
			if want == n {
				if k != nil {
					return fmt.Errorf("Seek(%d) = %x, want nil", i, k)
				}
			} else if !bytes.Equal(k, be(uint64(want))) {
				return fmt.Errorf("Seek(%d) = %x, want %d", i, k, want)
			}
		}
		return nil
	})
}

// step is one cursor operation and the key it must return ("" for nil).
type step struct {
	op, arg, want string
}

// runSteps applies steps to a cursor over b; "del" and "put" write to b.
func runSteps(b store.Bucket, steps []step) error {
	c := b.Cursor()
	for i, st := range steps {
		var k, v []byte
		switch st.op {
		case "first":
			k, v = c.First()
		case "last":
			k, v = c.Last()
		case "seek":
			k, v = c.Seek([]byte(st.arg))
		case "next":
			k, v = c.Next()
		case "prev":
			k, v = c.Prev()
		case "del":
			if err := b.Delete([]byte(st.arg)); err != nil {
				return fmt.Errorf("step %d: Delete(%q): %w", i, st.arg, err)
			}
			continue
		case "put":
			if err := b.Put([]byte(st.arg), []byte("v"+st.arg)); err != nil {
				return fmt.Errorf("step %d: Put(%q): %w", i, st.arg, err)
			}
			continue
		default:
			return fmt.Errorf("step %d: unknown op %q", i, st.op)
		}
		if string(k) != st.want || (k == nil) != (st.want == "") {
			return fmt.Errorf("step %d (%s %s): key %q, want %q", i, st.op, st.arg, str(k), st.want)
		}
		if k != nil && string(v) != "v"+string(k) {
			return fmt.Errorf("step %d (%s %s): value %q, want %q", i, st.op, st.arg, str(v), "v"+string(k))
		}
		if k == nil && v != nil {
			return fmt.Errorf("step %d (%s %s): nil key with value %q", i, st.op, st.arg, v)
		}
	}
	return nil
}

func testCursor(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		_, err := bucket(tx, "empty")
		return err
	})
	putAll(t, s, "b", "a", "va", "c", "vc", "e", "ve")
	tests := []struct {
		name   string
		bucket string
		steps  []step
	}{
		{"empty", "empty", []step{{"first", "", ""}, {"last", "", ""}, {"next", "", ""}, {"prev", "", ""}, {"seek", "a", ""}}},
		{"forward", "b", []step{{"first", "", "a"}, {"next", "", "c"}, {"next", "", "e"}, {"next", "", ""}}},
		{"backward", "b", []step{{"last", "", "e"}, {"prev", "", "c"}, {"prev", "", "a"}, {"prev", "", ""}}},
		{"new cursor Next is First", "b", []step{{"next", "", "a"}, {"next", "", "c"}}},
		{"new cursor Prev is Last", "b", []step{{"prev", "", "e"}, {"prev", "", "c"}}},
		{"past the end stays", "b", []step{{"last", "", "e"}, {"next", "", ""}, {"next", "", ""}, {"prev", "", "e"}, {"prev", "", "c"}}},
		{"before the start stays", "b", []step{{"first", "", "a"}, {"prev", "", ""}, {"prev", "", ""}, {"next", "", "a"}, {"next", "", "c"}}},
		{"seek exact", "b", []step{{"seek", "c", "c"}, {"next", "", "e"}}},
		{"seek between", "b", []step{{"seek", "b", "c"}, {"prev", "", "a"}}},
		{"seek before all", "b", []step{{"seek", "0", "a"}, {"prev", "", ""}}},
		{"seek past all then prev", "b", []step{{"seek", "f", ""}, {"prev", "", "e"}}},
		{"seek past all then next", "b", []step{{"seek", "f", ""}, {"next", "", ""}}},
		{"seek prefix", "b", []step{{"seek", "c\x00", "e"}}},
		{"first after walking", "b", []step{{"last", "", "e"}, {"first", "", "a"}, {"last", "", "e"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{"View", "Update"} {
				run := s.View
				if kind == "Update" {
					run = s.Update
				}
				if err := run(func(tx store.Tx) error { return runSteps(tx.Bucket([]byte(tt.bucket)), tt.steps) }); err != nil {
					t.Errorf("in %s: %v", kind, err)
				}
			}
		})
	}
}

func testCursorWrites(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"delete under cursor then next", []step{{"seek", "b", "b"}, {"del", "b", ""}, {"next", "", "c"}, {"next", "", "d"}}},
		{"delete under cursor then prev", []step{{"seek", "c", "c"}, {"del", "c", ""}, {"prev", "", "b"}, {"next", "", "d"}}},
		{"delete first under cursor then next", []step{{"first", "", "a"}, {"del", "a", ""}, {"next", "", "b"}, {"prev", "", ""}}},
		{"delete last under cursor then next", []step{{"last", "", "e"}, {"del", "e", ""}, {"next", "", ""}, {"prev", "", "d"}}},
		{"delete next key", []step{{"seek", "b", "b"}, {"del", "c", ""}, {"next", "", "d"}}},
		{"delete previous key", []step{{"seek", "c", "c"}, {"del", "b", ""}, {"prev", "", "a"}}},
		{"put after cursor", []step{{"seek", "b", "b"}, {"put", "bb", ""}, {"next", "", "bb"}, {"next", "", "c"}}},
		{"put before cursor", []step{{"seek", "c", "c"}, {"put", "bb", ""}, {"prev", "", "bb"}, {"prev", "", "b"}}},
		{"put past the end", []step{{"last", "", "e"}, {"put", "f", ""}, {"next", "", "f"}, {"next", "", ""}}},
		{"delete everything around", []step{{"seek", "c", "c"}, {"del", "a", ""}, {"del", "b", ""}, {"del", "c", ""}, {"del", "d", ""}, {"del", "e", ""}, {"next", "", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			putAll(t, s, "b", "a", "va", "b", "vb", "c", "vc", "d", "vd", "e", "ve")
			errUndo := errors.New("undo")
			err := s.Update(func(tx store.Tx) error {
				if err := runSteps(tx.Bucket([]byte("b")), tt.steps); err != nil {
					return err
				}
				return errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
			wantDump(t, s, "b/a=va", "b/b=vb", "b/c=vc", "b/d=vd", "b/e=ve")
		})
	}
	t.Run("delete every key while walking", func(t *testing.T) {
		update(t, s, func(tx store.Tx) error {
			b, err := bucket(tx, "many")
			if err != nil {
				return err
			}
			for i := range 3000 {
				if err := b.Put(be(uint64(i)), nil); err != nil {
					return err
				}
			}
			return nil
		})
		var visited int
		update(t, s, func(tx store.Tx) error {
			b := tx.Bucket([]byte("many"))
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				visited++
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if visited != 3000 {
			t.Fatalf("visited %d keys, want 3000", visited)
		}
		view(t, s, func(tx store.Tx) error {
			if k, _ := tx.Bucket([]byte("many")).Cursor().First(); k != nil {
				return fmt.Errorf("key %x left", k)
			}
			return nil
		})
	})
}

func testBuckets(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "v")
	update(t, s, func(tx store.Tx) error {
		if b := tx.Bucket([]byte("absent")); b != nil {
			return errors.New("Bucket(absent) != nil")
		}
		if _, err := tx.CreateBucket(nil); !errors.Is(err, store.ErrBucketNameRequired) {
			return fmt.Errorf("CreateBucket(nil) = %v, want ErrBucketNameRequired", err)
		}
		if err := tx.DeleteBucket([]byte("absent")); !errors.Is(err, store.ErrBucketNotFound) {
			return fmt.Errorf("DeleteBucket(absent) = %v, want ErrBucketNotFound", err)
		}
		// CreateBucket of an existing bucket returns it with its keys.
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if v := b.Get([]byte("k")); string(v) != "v" {
			return fmt.Errorf("existing bucket: Get = %q", str(v))
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		if tx.Bucket([]byte("b")) != nil {
			return errors.New("Bucket after DeleteBucket != nil")
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if v := b.Get([]byte("k")); v != nil {
			return fmt.Errorf("recreated bucket kept key: %q", v)
		}
		return nil
	})
	wantDump(t, s, "b/")
	update(t, s, func(tx store.Tx) error { return tx.DeleteBucket([]byte("b")) })
	wantDump(t, s)
}

func testForEachBucket(t *testing.T, s store.Store) {
	names := []string{"z", "a", "\x00x", "ab", "\xffq", "b"}
	update(t, s, func(tx store.Tx) error {
		for _, n := range names {
			if _, err := bucket(tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	want := slices.Clone(names)
	slices.Sort(want)
	for _, run := range []func(func(store.Tx) error) error{s.View, s.Update} {
		var got []string
		if err := run(func(tx store.Tx) error {
			return tx.ForEachBucket(func(name []byte) error {
				got = append(got, string(name))
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ForEachBucket order %q, want %q", got, want)
		}
	}
	errStop := errors.New("stop")
	calls := 0
	err := s.View(func(tx store.Tx) error {
		return tx.ForEachBucket(func(name []byte) error {
			calls++
			if string(name) == "a" {
				return errStop
			}
			return nil
		})
	})
	if !errors.Is(err, errStop) || calls != 2 {
		t.Fatalf("ForEachBucket stopping: err %v after %d calls, want %v after 2", err, calls, errStop)
	}
}

// failingUpdate writes every kind of change into s, then ends with end.
func failingUpdate(s store.Store, end func() error) error {
	return s.Update(func(tx store.Tx) error {
		b := tx.Bucket([]byte("keep"))
		for _, kv := range [][2]string{{"k1", "changed"}, {"new", "x"}, {"k0", "x"}} {
			if err := b.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		if err := b.Delete([]byte("k2")); err != nil {
			return err
		}
		if err := b.Delete([]byte("new")); err != nil {
			return err
		}
		for i := range 2000 { // enough to split pages or leaves
			if err := b.Put(be(uint64(i)), []byte("bulk")); err != nil {
				return err
			}
		}
		nb, err := tx.CreateBucket([]byte("created"))
		if err != nil {
			return err
		}
		if err := nb.Put([]byte("x"), []byte("y")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("dropped")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("recreated")); err != nil {
			return err
		}
		rb, err := tx.CreateBucket([]byte("recreated"))
		if err != nil {
			return err
		}
		if err := rb.Put([]byte("fresh"), []byte("1")); err != nil {
			return err
		}
		return end()
	})
}

func seedRollback(t *testing.T, s store.Store) []string {
	t.Helper()
	putAll(t, s, "keep", "k1", "v1", "k2", "v2", "k3", "v3")
	putAll(t, s, "dropped", "d", "1")
	putAll(t, s, "recreated", "old", "1")
	return dump(t, s)
}

func testRollbackOnError(t *testing.T, s store.Store) {
	want := seedRollback(t, s)
	errBoom := errors.New("boom")
	if err := failingUpdate(s, func() error { return errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want %v", err, errBoom)
	}
	wantDump(t, s, want...)
	// The store still works and commits.
	if err := failingUpdate(s, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, s); slices.Equal(got, want) {
		t.Fatal("committing Update changed nothing")
	}
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	want := seedRollback(t, s)
	errValue := errors.New("panic value")
	tests := []struct {
		name  string
		value any
		is    error
	}{
		{"string", "boom", nil},
		{"error", errValue, errValue},
		{"runtime error", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := failingUpdate(s, func() error {
				if tt.value == nil {
					var m map[string]int
					m["x"] = 1 // assignment to a nil map
				}
				panic(tt.value)
			})
			if !errors.Is(err, store.ErrTxPanicked) {
				t.Fatalf("Update = %v, want ErrTxPanicked", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Update = %v, want it to wrap %v", err, tt.is)
			}
			if s, ok := tt.value.(string); ok && !strings.Contains(err.Error(), s) {
				t.Fatalf("Update = %v, want the panic value %q in it", err, s)
			}
			wantDump(t, s, want...)
		})
	}
	putAll(t, s, "keep", "after", "panic")
}

func testViewPanic(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "v")
	err := s.View(func(tx store.Tx) error { panic("in view") })
	if !errors.Is(err, store.ErrTxPanicked) || !strings.Contains(err.Error(), "in view") {
		t.Fatalf("View = %v, want ErrTxPanicked with the value", err)
	}
	wantDump(t, s, "b/k=v")
	putAll(t, s, "b", "k", "v2")
}

func testViewNotWritable(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "v")
	view(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		checks := []struct {
			name string
			err  error
		}{
			{"Put", b.Put([]byte("k"), []byte("x"))},
			{"Put empty key", b.Put(nil, []byte("x"))},
			{"Delete", b.Delete([]byte("k"))},
			{"DeleteBucket", tx.DeleteBucket([]byte("b"))},
			{"DeleteBucket absent", tx.DeleteBucket([]byte("absent"))},
		}
		_, err := tx.CreateBucket([]byte("new"))
		checks = append(checks, struct {
			name string
			err  error
		}{"CreateBucket", err})
		for _, c := range checks {
			if !errors.Is(c.err, store.ErrTxNotWritable) {
				t.Errorf("%s in View = %v, want ErrTxNotWritable", c.name, c.err)
			}
		}
		return nil
	})
	wantDump(t, s, "b/k=v")
}

func testTxClosed(t *testing.T, s store.Store) {
	var kept store.Bucket
	var keptTx store.Tx
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, "b")
		kept, keptTx = b, tx
		return err
	})
	if err := kept.Put([]byte("late"), []byte("x")); !errors.Is(err, store.ErrTxClosed) {
		t.Errorf("Put after Update returned = %v, want ErrTxClosed", err)
	}
	if err := kept.Delete([]byte("late")); !errors.Is(err, store.ErrTxClosed) {
		t.Errorf("Delete after Update returned = %v, want ErrTxClosed", err)
	}
	if _, err := keptTx.CreateBucket([]byte("late")); !errors.Is(err, store.ErrTxClosed) {
		t.Errorf("CreateBucket after Update returned = %v, want ErrTxClosed", err)
	}
	if err := keptTx.DeleteBucket([]byte("b")); !errors.Is(err, store.ErrTxClosed) {
		t.Errorf("DeleteBucket after Update returned = %v, want ErrTxClosed", err)
	}
	wantDump(t, s, "b/")
}

func testValuesCopied(t *testing.T, s store.Store) {
	key := []byte("key")
	value := []byte("value")
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, "b")
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
	key[0], value[0] = 'X', 'X'
	wantDump(t, s, "b/key=value")
}

func testLargeValues(t *testing.T, s store.Store) {
	sizes := []int{0, 1, 4000, 5000, 64 << 10, 1 << 20}
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, "b")
		if err != nil {
			return err
		}
		for _, n := range sizes {
			if err := b.Put(be(uint64(n)), bytes.Repeat([]byte{byte(n)}, n)); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, n := range sizes {
			if v := b.Get(be(uint64(n))); !bytes.Equal(v, bytes.Repeat([]byte{byte(n)}, n)) || v == nil {
				return fmt.Errorf("value of %d bytes: got %d bytes", n, len(v))
			}
		}
		return nil
	})
}

// testSnapshotIsolation starts an Update from inside a View and checks that
// the View never sees it. A backend may make the Update wait for the View
// (memory) or let it commit (bolt); the View gives it a bounded chance to
// commit before it reads again, and the assertion holds either way.
func testSnapshotIsolation(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "old", "gone", "x")
	done := make(chan error, 1)
	view(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("b"))
		go func() {
			done <- s.Update(func(tx store.Tx) error {
				b, err := bucket(tx, "b")
				if err != nil {
					return err
				}
				if err := b.Put([]byte("k"), []byte("new")); err != nil {
					return err
				}
				if err := b.Put([]byte("added"), []byte("y")); err != nil {
					return err
				}
				if err := b.Delete([]byte("gone")); err != nil {
					return err
				}
				_, err = bucket(tx, "newbucket")
				return err
			})
		}()
		select {
		case err := <-done:
			done <- err // committed while the View is open
		case <-time.After(100 * time.Millisecond):
			// The backend makes the Update wait for the View.
		}
		if v := b.Get([]byte("k")); string(v) != "old" {
			return fmt.Errorf("View sees %q, want the snapshot's old", str(v))
		}
		if v := b.Get([]byte("gone")); string(v) != "x" {
			return fmt.Errorf("View sees deleted key as %q", str(v))
		}
		var keys []string
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		if !slices.Equal(keys, []string{"gone", "k"}) {
			return fmt.Errorf("View walks %q, want [gone k]", keys)
		}
		if tx.Bucket([]byte("newbucket")) != nil {
			return errors.New("View sees a bucket created after it began")
		}
		return nil
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantDump(t, s, "b/added=y", "b/k=new", "newbucket/")
}

// testConcurrent runs Views alongside a writer that keeps two keys equal in
// every commit; a View seeing them differ saw a partial Update.
func testConcurrent(t *testing.T, s store.Store) {
	putAll(t, s, "b", "x", "0", "y", "0")
	const writes = 200
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				err := s.View(func(tx store.Tx) error {
					b := tx.Bucket([]byte("b"))
					x, y := b.Get([]byte("x")), b.Get([]byte("y"))
					if !bytes.Equal(x, y) {
						return fmt.Errorf("View saw x=%s y=%s", x, y)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 1; i <= writes; i++ {
		v := []byte(fmt.Sprint(i))
		update(t, s, func(tx store.Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Put([]byte("x"), v); err != nil {
				return err
			}
			return b.Put([]byte("y"), v)
		})
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantDump(t, s, "b/x="+fmt.Sprint(writes), "b/y="+fmt.Sprint(writes))
}

func testClose(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	called := false
	if err := s.Update(func(store.Tx) error { called = true; return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := s.View(func(store.Tx) error { called = true; return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if called {
		t.Error("fn ran after Close")
	}
}

// testCloseWaits checks that Close returns only after a running View.
func testCloseWaits(t *testing.T, s store.Store) {
	putAll(t, s, "b", "k", "v")
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	viewErr := make(chan error, 1)
	go func() {
		viewErr <- s.View(func(tx store.Tx) error {
			close(entered)
			<-release
			finished.Store(true)
			return nil
		})
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !finished.Load() {
		t.Fatal("Close returned while a View was running")
	}
	if err := <-viewErr; err != nil {
		t.Fatalf("View: %v", err)
	}
}

// testRetainer checks the optional store.Retainer: a retained value reads
// back as given, rolls back like Put, and is replaced by a later Put.
// Stores whose buckets do not implement it pass trivially.
func testRetainer(t *testing.T, s store.Store) {
	retained := []byte("kept as given")
	var supported bool
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, "r")
		if err != nil {
			return err
		}
		r, ok := b.(store.Retainer)
		if !ok {
			return nil
		}
		supported = true
		return r.PutRetained([]byte("k"), retained)
	})
	if !supported {
		return
	}
	err := s.Update(func(tx store.Tx) error {
		r := tx.Bucket([]byte("r")).(store.Retainer)
		if err := r.PutRetained([]byte("gone"), []byte("x")); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		b := tx.Bucket([]byte("r"))
		if got := b.Get([]byte("k")); !bytes.Equal(got, retained) {
			t.Errorf("retained value = %q, want %q", got, retained)
		}
		if got := b.Get([]byte("gone")); got != nil {
			t.Errorf("rolled-back retained value = %q", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		return tx.Bucket([]byte("r")).Put([]byte("k"), []byte("copied"))
	})
	view(t, s, func(tx store.Tx) error {
		if got := tx.Bucket([]byte("r")).Get([]byte("k")); string(got) != "copied" {
			t.Errorf("after Put: %q", got)
		}
		return nil
	})
}

var errRollback = errors.New("storetest: roll back")
