package wal_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// ackLog is what a set of completions were told, in the order told.
type ackLog struct {
	mu      sync.Mutex
	offsets []int64
	errs    []error
	wg      sync.WaitGroup
}

// ack is one AppendAsyncTo call's Completion: it counts how often it was
// told and reads its record's offset, which the log set before telling.
type ack struct {
	log   *ackLog
	rec   *wal.Record
	calls atomic.Int32
}

func (a *ack) AppendDone(err error) {
	a.calls.Add(1)
	a.log.mu.Lock()
	a.log.offsets = append(a.log.offsets, a.rec.Offset)
	a.log.errs = append(a.log.errs, err)
	a.log.mu.Unlock()
	a.log.wg.Done()
}

// appendAck queues one record of payload with its own ack.
func appendAck(t *testing.T, l *wal.Log, al *ackLog, topic string, payload []byte) *ack {
	t.Helper()
	recs := []wal.Record{{Payload: payload}}
	a := &ack{log: al, rec: &recs[0]}
	al.wg.Add(1)
	if err := l.AppendAsyncTo(context.Background(), topic, 0, recs, a); err != nil {
		al.wg.Done()
		t.Fatal(err)
	}
	return a
}

// Each AppendAsyncTo's Completion is told exactly once, with nil, after
// its record's offset is set, and acknowledgements come in offset order
// even with several appenders racing the committer.
func TestAppendAsyncToTellsEachCompletionOnce(t *testing.T) {
	l := openLog(t, memstore.New())
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	const appenders, each = 4, 500
	var al ackLog
	acks := make([][]*ack, appenders)
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			for range each {
				acks[g] = append(acks[g], appendAck(t, l, &al, "t", []byte{byte(g)}))
			}
		})
	}
	wg.Wait()
	al.wg.Wait()
	for g := range acks {
		for i, a := range acks[g] {
			if n := a.calls.Load(); n != 1 {
				t.Fatalf("appender %d record %d: told %d times", g, i, n)
			}
		}
	}
	if len(al.offsets) != appenders*each {
		t.Fatalf("%d acknowledgements, want %d", len(al.offsets), appenders*each)
	}
	for i, off := range al.offsets {
		if al.errs[i] != nil {
			t.Fatalf("ack %d: %v", i, al.errs[i])
		}
		if off != int64(i) {
			t.Fatalf("ack %d is for offset %d: out of offset order", i, off)
		}
	}
	if _, end, _ := l.Offsets("t", 0); end != appenders*each {
		t.Fatalf("end %d", end)
	}
}

// Back-pressure: once the partition holds more than WithMaxPendingBytes
// not yet committed, AppendAsyncTo waits, having queued nothing, until a
// commit makes room; then it queues, in order, and every record is
// acknowledged.
func TestAppendAsyncToWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := &gatedStore{Store: memstore.New(), gate: make(chan struct{})}
		l, err := wal.Open(gs, wal.WithMaxRecordBytes(1024), wal.WithMaxPendingBytes(4096))
		if err != nil {
			t.Fatal(err)
		}
		createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
		gs.hold.Store(true)
		payload := make([]byte, 1000)
		const n = 10
		var al ackLog
		var returned atomic.Int32
		go func() {
			for range n {
				appendAck(t, l, &al, "t", payload)
				returned.Add(1)
			}
		}()
		synctest.Wait()
		held := returned.Load()
		al.mu.Lock()
		told := len(al.offsets)
		al.mu.Unlock()
		// Checked once the commit goes on: a test that stopped with the
		// committer held would leave the bubble blocked.
		close(gs.gate)
		synctest.Wait()
		al.wg.Wait()
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// A frame of 1,000 B takes 1,048 with its header: three leave the
		// tail under 4,096, the fourth takes it over, so the fifth waits.
		if held != 4 {
			t.Fatalf("%d appends returned while the commit was held, want 4", held)
		}
		if told != 0 {
			t.Fatalf("%d acknowledged before any commit", told)
		}
		if got := returned.Load(); got != n {
			t.Fatalf("%d appends returned after the commit, want %d", got, n)
		}
		for i, off := range al.offsets {
			if al.errs[i] != nil || off != int64(i) {
				t.Fatalf("ack %d: offset %d, %v", i, off, al.errs[i])
			}
		}
	})
}

// AppendAsyncTo on a closed log or a deleted topic returns the error and
// never tells its Completion.
func TestAppendAsyncToRefused(t *testing.T) {
	l := openLog(t, memstore.New())
	createTopic(t, l, "gone", wal.TopicConfig{Partitions: 1})
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	if err := l.DeleteTopic(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	var al ackLog
	a := &ack{log: &al, rec: &wal.Record{}}
	if err := l.AppendAsyncTo(context.Background(), "gone", 0, []wal.Record{{Payload: []byte("a")}}, a); !errors.Is(err, wal.ErrUnknownTopic) {
		t.Fatalf("append to a deleted topic: %v", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAsyncTo(context.Background(), "t", 0, []wal.Record{{Payload: []byte("a")}}, a); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("told %d times", n)
	}
}

// Back-pressure without PolicySync: Append returns once its records are
// queued until the tail holds more than WithMaxPendingBytes; the append
// that takes it over waits for the commit that stores its records (the
// committer is kicked for it), and then returns.
func TestAppendWaitsForRoomWithoutSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := &gatedStore{Store: memstore.New(), gate: make(chan struct{})}
		l, err := wal.Open(gs, wal.WithPolicy(wal.PolicyNone, time.Hour),
			wal.WithMaxRecordBytes(1024), wal.WithMaxPendingBytes(4096))
		if err != nil {
			t.Fatal(err)
		}
		createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
		gs.hold.Store(true)
		payload := make([]byte, 1000)
		const n = 10
		var returned atomic.Int32
		errs := make(chan error, n)
		go func() {
			for range n {
				errs <- l.Append(context.Background(), "t", 0, []wal.Record{{Payload: payload}})
				returned.Add(1)
			}
		}()
		synctest.Wait()
		held := returned.Load()
		close(gs.gate)
		synctest.Wait()
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Frames of 1,048 B: the fourth takes the tail over 4,096 and
		// waits for the held commit.
		if held != 3 {
			t.Fatalf("%d appends returned while the commit was held, want 3", held)
		}
		if got := returned.Load(); got != n {
			t.Fatalf("%d appends returned after the commit, want %d", got, n)
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A duplicate whose first copy is already stored, appended async to a
// partition with nothing else queued, is acknowledged at once with the
// first copy's position: no commit of its partition is coming to answer
// it (none is needed), so it must not wait for one, nor for Close.
func TestAppendAsyncToDuplicateOfStoredIsTold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := wal.Open(memstore.New())
		if err != nil {
			t.Fatal(err)
		}
		createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
		id := [16]byte{1, 2, 3}
		if err := l.Append(context.Background(), "t", 0, []wal.Record{{MessageID: id, Payload: []byte("first")}}); err != nil {
			t.Fatal(err)
		}
		var al ackLog
		recs := []wal.Record{{MessageID: id, Payload: []byte("again")}}
		a := &ack{log: &al, rec: &recs[0]}
		al.wg.Add(1)
		if err := l.AppendAsyncTo(context.Background(), "t", 0, recs, a); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		told := a.calls.Load()
		al.mu.Lock()
		var errs []error
		errs = append(errs, al.errs...)
		al.mu.Unlock()
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if told != 1 {
			t.Fatalf("the duplicate's completion was told %d times before Close, want 1", told)
		}
		if errs[0] != nil || !recs[0].Duplicate || recs[0].Offset != 0 {
			t.Fatalf("told %v, duplicate %v at offset %d; want nil, a duplicate of offset 0", errs[0], recs[0].Duplicate, recs[0].Offset)
		}
	})
}
