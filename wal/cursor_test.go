package wal_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// TestCursorValueRoundTrips: a cursor keeps its offset, leader epoch,
// metadata and commit time, in memory and after a reopen; a commit
// without a commit time gets the log's clock.
func TestCursorValueRoundTrips(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st, wal.WithClock(func() time.Time { return now }))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 2})
	appendN(t, l, "t", 10, seq)
	commits := []wal.CursorCommit{
		{Topic: "t", Part: 0, Value: wal.CursorValue{Offset: 7, LeaderEpoch: 3, Metadata: "m\x00ü", CommitTime: 42}},
		{Topic: "t", Part: 1, Value: wal.CursorValue{Offset: 0, LeaderEpoch: -1}},
	}
	if err := l.CommitCursors(ctx, "g", commits, true); err != nil {
		t.Fatal(err)
	}
	want := []wal.CursorCommit{commits[0], commits[1]}
	want[1].Value.CommitTime = now.UnixMilli()
	check := func(l *wal.Log, when string) {
		t.Helper()
		for _, c := range want {
			v, ok, err := l.CursorValue("g", c.Topic, c.Part)
			if err != nil || !ok || v != c.Value {
				t.Fatalf("%s: cursor of %s/%d = %+v, %v, %v; want %+v", when, c.Topic, c.Part, v, ok, err, c.Value)
			}
		}
		if off, ok, _ := l.Cursor("g", "t", 0); !ok || off != 7 {
			t.Fatalf("%s: Cursor = %d, %v; want 7", when, off, ok)
		}
		if got := l.GroupCursors("g"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: GroupCursors = %+v; want %+v", when, got, want)
		}
	}
	check(l, "before the reopen")
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check(openLog(t, st), "after the reopen")
}

// TestOldCursorValuesStayReadable: a cursor stored before version 2 (the
// 8-byte offset alone) reads as that offset, leader epoch -1, no
// metadata, commit time 0; a damaged version-2 value is refused with its
// location.
func TestOldCursorValuesStayReadable(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st)
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	appendN(t, l, "t", 20, seq)
	if err := l.CommitCursors(ctx, "new", []wal.CursorCommit{{Topic: "t", Value: wal.CursorValue{Offset: 5, Metadata: "meta"}}}, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	key := []byte("old\x00t\x00\x00\x00\x00\x00")
	err := st.Update(func(tx store.Tx) error {
		return tx.Bucket([]byte("cursors")).Put(key, []byte{0, 0, 0, 0, 0, 0, 0, 12})
	})
	if err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st)
	v, ok, err := l2.CursorValue("old", "t", 0)
	if err != nil || !ok || v != (wal.CursorValue{Offset: 12, LeaderEpoch: -1}) {
		t.Fatalf("version-1 cursor = %+v, %v, %v", v, ok, err)
	}
	if err := l2.Close(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		damage func(v []byte) []byte
		reason string
	}{
		{"bit flip", func(v []byte) []byte { v[3] ^= 0x10; return v }, "CRC mismatch"},
		{"truncated", func(v []byte) []byte { return v[:12] }, "too short"},
		{"unknown version", func(v []byte) []byte { v[0] = 9; return v }, "unknown cursor version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := memstore.New()
			copyStore(t, st, cp)
			err := cp.Update(func(tx store.Tx) error {
				b := tx.Bucket([]byte("cursors"))
				k := []byte("new\x00t\x00\x00\x00\x00\x00")
				return b.Put(k, tc.damage(bytes.Clone(b.Get(k))))
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = wal.Open(cp)
			if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), `"new" on t/0`) {
				t.Fatalf("open with a damaged cursor: %v; want ErrCorrupt naming the cursor and %q", err, tc.reason)
			}
		})
	}
}

// copyStore copies every bucket of from into to.
func copyStore(t *testing.T, from, to store.Store) {
	t.Helper()
	err := from.View(func(src store.Tx) error {
		return to.Update(func(dst store.Tx) error {
			for _, name := range []string{"meta", "cursors", "attempts", "inflight", "appendtimes", "d/t/0", "i/t/0"} {
				b := src.Bucket([]byte(name))
				if b == nil {
					continue
				}
				nb, err := dst.CreateBucket([]byte(name))
				if err != nil {
					return err
				}
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if err := nb.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommitCursorsMayMoveBackwards: a Kafka consumer commits after a
// seek. A backward commit is stored as given; failure histories below
// the cursor go as it passes them, those above stay; a backward commit
// clears the in-flight mark so records already passed are not taken
// for crash suspects.
func TestCommitCursorsMayMoveBackwards(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st)
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	appendN(t, l, "t", 20, seq)
	commit := func(off int64) {
		t.Helper()
		if err := l.CommitCursors(ctx, "g", []wal.CursorCommit{{Topic: "t", Value: wal.CursorValue{Offset: off, LeaderEpoch: -1}}}, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, off := range []int64{5, 15} {
		if err := l.RecordAttempt(ctx, "g", "t", 0, off, wal.Attempt{Count: 2, First: time.Unix(1, 0), Last: time.Unix(2, 0)}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.MarkInFlight(ctx, "g", "t", 0, 8, 12); err != nil {
		t.Fatal(err)
	}
	commit(10)
	if _, ok := l.Attempts("g", "t", 0, 5); ok {
		t.Fatal("the attempt below the cursor survived a forward commit")
	}
	if end := l.InFlight("g", "t", 0); end != 12 {
		t.Fatalf("a forward commit inside the in-flight range cleared it: %d", end)
	}
	commit(3)
	if off, _, _ := l.Cursor("g", "t", 0); off != 3 {
		t.Fatalf("cursor after a backward commit: %d; want 3", off)
	}
	if _, ok := l.Attempts("g", "t", 0, 15); !ok {
		t.Fatal("the attempt above both cursors was dropped")
	}
	if end := l.InFlight("g", "t", 0); end != -1 {
		t.Fatalf("the in-flight mark survived a backward commit: %d", end)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st)
	if off, _, _ := l2.Cursor("g", "t", 0); off != 3 {
		t.Fatalf("cursor after the reopen: %d; want 3", off)
	}
	if _, ok := l2.Attempts("g", "t", 0, 15); !ok {
		t.Fatal("the attempt above the cursor was lost in the reopen")
	}
	if end := l2.InFlight("g", "t", 0); end != -1 {
		t.Fatalf("the in-flight mark came back after the reopen: %d", end)
	}
	// The embedded engine's CommitCursor stays forward-only unless forced.
	if err := l2.CommitCursor("g", "t", 0, 1, false); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := l2.Cursor("g", "t", 0); off != 3 {
		t.Fatalf("CommitCursor without force moved the cursor back to %d", off)
	}
}

// TestCommitCursorsRefusesBadCommits: every commit of a call is checked
// before any is applied.
func TestCommitCursorsRefusesBadCommits(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, memstore.New())
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 2})
	appendN(t, l, "t", 5, seq)
	good := wal.CursorCommit{Topic: "t", Part: 0, Value: wal.CursorValue{Offset: 2}}
	for _, tc := range []struct {
		name  string
		group string
		c     wal.CursorCommit
		want  error
	}{
		{"unknown topic", "g", wal.CursorCommit{Topic: "nope", Value: wal.CursorValue{Offset: 0}}, wal.ErrUnknownTopic},
		{"partition past the topic", "g", wal.CursorCommit{Topic: "t", Part: 2}, wal.ErrInvalidPartition},
		{"negative partition", "g", wal.CursorCommit{Topic: "t", Part: -1}, wal.ErrInvalidPartition},
		{"negative offset", "g", wal.CursorCommit{Topic: "t", Value: wal.CursorValue{Offset: -1}}, wal.ErrInvalidCursor},
		{"past the end", "g", wal.CursorCommit{Topic: "t", Value: wal.CursorValue{Offset: 6}}, wal.ErrInvalidCursor},
		{"metadata too long", "g", wal.CursorCommit{Topic: "t", Value: wal.CursorValue{Metadata: strings.Repeat("m", 4097)}}, wal.ErrInvalidCursor},
		{"empty group", "", good, wal.ErrInvalidOption},
		{"group with NUL", "a\x00b", good, wal.ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.CommitCursors(ctx, tc.group, []wal.CursorCommit{good, tc.c}, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CommitCursors: %v; want %v", err, tc.want)
			}
			if _, ok, _ := l.Cursor("g", "t", 0); ok {
				t.Fatal("the good commit of a refused call was applied")
			}
		})
	}
	// The end itself is a valid cursor (nothing left to read).
	if err := l.CommitCursors(ctx, "g", []wal.CursorCommit{{Topic: "t", Part: 0, Value: wal.CursorValue{Offset: 5}}}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.CommitCursors(ctx, "g", []wal.CursorCommit{good}, true); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("after Close: %v; want ErrClosed", err)
	}
}

// TestGroupListingAndDeletion: AllGroups, GroupCursors, DeleteCursor and
// DeleteGroup (cursors, attempts and in-flight marks), in memory and
// after a reopen.
func TestGroupListingAndDeletion(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st)
	createTopic(t, l, "a", wal.TopicConfig{Partitions: 2})
	createTopic(t, l, "b", wal.TopicConfig{Partitions: 1})
	appendN(t, l, "a", 5, seq)
	commit := func(group, topic string, part int32, off int64) {
		t.Helper()
		if err := l.CommitCursors(ctx, group, []wal.CursorCommit{{Topic: topic, Part: part, Value: wal.CursorValue{Offset: off}}}, false); err != nil {
			t.Fatal(err)
		}
	}
	commit("g1", "a", 1, 0)
	commit("g1", "a", 0, 3)
	commit("g1", "b", 0, 0)
	commit("g2", "a", 0, 1)
	if err := l.RecordAttempt(ctx, "g2", "a", 0, 2, wal.Attempt{Count: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkInFlight(ctx, "g2", "a", 0, 1, 4); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(l.AllGroups()); got != "[g1 g2]" {
		t.Fatalf("AllGroups = %s", got)
	}
	var parts []string
	for _, c := range l.GroupCursors("g1") {
		parts = append(parts, fmt.Sprintf("%s/%d@%d", c.Topic, c.Part, c.Value.Offset))
	}
	if got := strings.Join(parts, " "); got != "a/0@3 a/1@0 b/0@0" {
		t.Fatalf("GroupCursors(g1) = %s", got)
	}
	if err := l.DeleteCursor(ctx, "g1", "a", 1); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteCursor(ctx, "g1", "a", 1); err != nil {
		t.Fatalf("deleting a missing cursor: %v", err)
	}
	if err := l.DeleteGroup(ctx, "g2"); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteGroup(ctx, "g2"); !errors.Is(err, wal.ErrUnknownGroup) {
		t.Fatalf("deleting a deleted group: %v; want ErrUnknownGroup", err)
	}
	check := func(l *wal.Log, when string) {
		t.Helper()
		if got := fmt.Sprint(l.AllGroups()); got != "[g1]" {
			t.Fatalf("%s: AllGroups = %s", when, got)
		}
		if _, ok, _ := l.Cursor("g1", "a", 1); ok {
			t.Fatalf("%s: the deleted cursor is back", when)
		}
		if _, ok := l.Attempts("g2", "a", 0, 2); ok {
			t.Fatalf("%s: the deleted group's attempt is back", when)
		}
		if end := l.InFlight("g2", "a", 0); end != -1 {
			t.Fatalf("%s: the deleted group's in-flight mark is back: %d", when, end)
		}
		if len(l.GroupCursors("g2")) != 0 {
			t.Fatalf("%s: the deleted group has cursors", when)
		}
	}
	check(l, "before the reopen")
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check(openLog(t, st), "after the reopen")
}

// syncCountingStore counts the committed Updates and the Syncs of a
// store, and can hold the first Update until released, so that callers
// pile up behind it.
type syncCountingStore struct {
	store.Store
	updates, syncs atomic.Int64
	hold           chan struct{} // nil: hold nothing
	holding        atomic.Bool
}

func (s *syncCountingStore) Update(fn func(store.Tx) error) error {
	if s.hold != nil && s.holding.CompareAndSwap(false, true) {
		<-s.hold
	}
	err := s.Store.Update(fn)
	if err == nil {
		s.updates.Add(1)
	}
	return err
}

func (s *syncCountingStore) Sync() error {
	s.syncs.Add(1)
	if sy, ok := s.Store.(store.Syncer); ok {
		return sy.Sync()
	}
	return nil
}

// TestDurableCommitsShareOneCommit: 50 concurrent durable CommitCursors
// calls share group commits (under PolicySync one commit is one fsync)
// rather than costing one each.
func TestDurableCommitsShareOneCommit(t *testing.T) {
	ctx := context.Background()
	st := &syncCountingStore{Store: memstore.New()}
	// A flush interval of an hour: only kicks commit.
	l := openLog(t, st, wal.WithPolicy(wal.PolicySync, time.Hour))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	// Set before any commit is kicked: the kick orders it before the
	// committer's read.
	st.hold = make(chan struct{})
	before := st.updates.Load()
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			errs <- l.CommitCursors(ctx, "g"+strconv.Itoa(i), []wal.CursorCommit{{Topic: "t", Value: wal.CursorValue{Offset: 0}}}, true)
		})
	}
	// Every caller has set its cursor in memory (and is waiting) before
	// the first commit may finish.
	testutil.Eventually(t, 10*time.Second, func() bool { return len(l.AllGroups()) == callers }, "every caller set its cursor")
	close(st.hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The held commit took some of the cursors, the next one the rest.
	if n := st.updates.Load() - before; n < 1 || n > 2 {
		t.Fatalf("%d durable commits took %d store commits; want 1 or 2", callers, n)
	}
}

// TestDurableCommitIsOnDisk: under PolicySync a CommitCursors with
// durable is in the file when it returns (a copy taken at once, with the
// log still open, holds it), while one without durable waits for the
// next commit. Under PolicyInterval (a bbolt store without fsync per
// commit) a durable commit is also followed by a store sync.
func TestDurableCommitIsOnDisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy wal.Policy
		noSync bool
	}{
		{"sync", wal.PolicySync, false},
		{"interval", wal.PolicyInterval, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			bst, err := bolt.Open(filepath.Join(dir, "log.db"), bolt.WithNoSync(tc.noSync))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bst.Close() })
			st := &syncCountingStore{Store: bst}
			l := openLog(t, st, wal.WithPolicy(tc.policy, time.Hour))
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
			appendN(t, l, "t", 3, seq)
			if err := l.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			syncs := st.syncs.Load()
			if err := l.CommitCursors(ctx, "lazy", []wal.CursorCommit{{Topic: "t", Value: wal.CursorValue{Offset: 1}}}, false); err != nil {
				t.Fatal(err)
			}
			if err := l.CommitCursors(ctx, "durable", []wal.CursorCommit{{Topic: "t", Value: wal.CursorValue{Offset: 2, Metadata: "x"}}}, true); err != nil {
				t.Fatal(err)
			}
			if tc.policy == wal.PolicyInterval && st.syncs.Load() == syncs {
				t.Fatal("a durable commit under PolicyInterval returned without a store sync")
			}
			cp := copyFile(t, filepath.Join(dir, "log.db"), filepath.Join(dir, "copy.db"))
			cst, err := bolt.Open(cp)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cst.Close() })
			l2 := openLog(t, cst)
			if v, ok, _ := l2.CursorValue("durable", "t", 0); !ok || v.Offset != 2 || v.Metadata != "x" {
				t.Fatalf("durable cursor in the copy: %+v, %v", v, ok)
			}
		})
	}
}

const cursorChildEnv = "ONEXBUS_WAL_CURSOR_CHILD"

// TestDurableCommitSurvivesKill: a child process commits cursors with
// durable on a bbolt file in a loop, printing each one's number as soon
// as CommitCursors returns; after a SIGKILL the reopened file holds the
// last printed commit or a later one.
func TestDurableCommitSurvivesKill(t *testing.T) {
	if dir := os.Getenv(cursorChildEnv); dir != "" {
		if err := cursorChild(dir); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	cmd, stdout, stderr := startChild(t, "TestDurableCommitSurvivesKill", cursorChildEnv, dir)
	// Bounds a broken child only: a healthy one commits 20 times in
	// milliseconds.
	guard := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()
	sc := bufio.NewScanner(stdout)
	last := -1
	for sc.Scan() {
		line := sc.Text()
		n, err := strconv.Atoi(strings.TrimPrefix(line, "committed "))
		if err != nil || !strings.HasPrefix(line, "committed ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q\n%s", line, stderr.String())
		}
		last = n
		if n == 20 {
			break // kill right after a commit returned
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if last != 20 {
		t.Fatalf("child stopped after commit %d\n%s", last, stderr.String())
	}
	st, err := bolt.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	l := openLog(t, st)
	v, ok, err := l.CursorValue("g", "t", 0)
	if err != nil || !ok {
		t.Fatalf("no cursor after the kill: %v", err)
	}
	n, err := strconv.Atoi(v.Metadata)
	if err != nil || n < last || v.Offset != int64(n%10) {
		t.Fatalf("cursor after the kill: %+v; want commit %d or later", v, last)
	}
}

// cursorChild commits cursor number n (offset n%10, metadata n) with
// durable until it is killed, printing each number once it returned.
func cursorChild(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := bolt.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		return err
	}
	l, err := wal.Open(st, wal.WithPolicy(wal.PolicySync, time.Hour))
	if err != nil {
		return err
	}
	if _, err := l.CreateTopic("t", wal.TopicConfig{Partitions: 1}); err != nil {
		return err
	}
	recs := make([]wal.Record, 10)
	for i := range recs {
		recs[i].Payload = []byte("x")
	}
	if err := l.Append(ctx, "t", 0, recs); err != nil {
		return err
	}
	for n := 0; ctx.Err() == nil; n++ {
		c := wal.CursorCommit{Topic: "t", Value: wal.CursorValue{Offset: int64(n % 10), Metadata: strconv.Itoa(n)}}
		if err := l.CommitCursors(ctx, "g", []wal.CursorCommit{c}, true); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(os.Stdout, "committed %d\n", n); err != nil {
			return err
		}
	}
	return nil
}
