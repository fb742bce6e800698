package wal_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/wal"
)

// txnBatch builds a transactional batch of n records of producer pid.
func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, tag string) []byte {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	b.SetProducer(pid, epoch, seq)
	b.SetTransactional(true)
	for i := range n {
		if err := b.Add(1_700_000_000_000+int64(i), nil, []byte(fmt.Sprintf("%s-%d", tag, i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lso(t *testing.T, l *wal.Log, topic string, part int32) int64 {
	t.Helper()
	v, err := l.LastStableOffset(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// batchesIn walks a record set and returns (base offset, control, value
// of the first record) per batch.
type seenBatch struct {
	base    int64
	control bool
	typ     int16
}

func batchesIn(t *testing.T, set []byte) []seenBatch {
	t.Helper()
	var out []seenBatch
	for len(set) > 0 {
		n, err := kbatch.BatchLen(set)
		if err != nil {
			t.Fatal(err)
		}
		h, err := kbatch.ParseHeader(set)
		if err != nil {
			t.Fatal(err)
		}
		sb := seenBatch{base: h.BaseOffset, control: h.Control()}
		if h.Control() {
			if sb.typ, err = kbatch.ControlType(set[:n]); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, sb)
		set = set[n:]
	}
	return out
}

// committedValues reads a partition with ReadCommitted and returns the
// offsets of the records it would deliver (not control, not aborted).
func committedOffsets(t *testing.T, l *wal.Log, topic string, part int32, from int64) ([]int64, int64) {
	t.Helper()
	var offs []int64
	next, err := l.ReadCommitted(context.Background(), topic, part, from, 1000, func(e *wal.Entry) error {
		if !e.Batch.Control() && !e.Aborted {
			offs = append(offs, e.Offset)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offs, next
}

// TestTxnLSOAndMarkers: a transactional batch holds the LSO at its first
// offset while open; read_committed reads stop there; commit and abort
// markers take an offset each; the aborted transaction is listed and its
// records skipped by ReadCommitted; a producer without transactions
// between them is readable once the LSO passes it.
func TestTxnLSOAndMarkers(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "t", 1)
		appendBatch(t, l, "t", 0, producerBatch(t, 1, 0, 0, 2)) // 0-1, not transactional
		appendBatch(t, l, "t", 0, txnBatch(t, 7, 0, 0, 3, "a")) // 2-4, txn A
		appendBatch(t, l, "t", 0, producerBatch(t, 2, 0, 0, 1)) // 5
		if got := lso(t, l, "t", 0); got != 2 {
			t.Fatalf("LSO with an open transaction at 2 = %d", got)
		}
		set, next, err := l.ReadBatchesIsolated(ctx, "t", 0, 0, 1<<20, nil, true)
		if err != nil || next != 2 || len(batchesIn(t, set)) != 1 {
			t.Fatalf("read_committed read: next %d, %d batches, %v", next, len(batchesIn(t, set)), err)
		}
		if _, next, _ := l.ReadBatchesIsolated(ctx, "t", 0, 0, 1<<20, nil, false); next != 6 {
			t.Fatalf("read_uncommitted next = %d", next)
		}
		if offs, next := committedOffsets(t, l, "t", 0, 0); !slices.Equal(offs, []int64{0, 1}) || next != 2 {
			t.Fatalf("ReadCommitted before the end: %v next %d", offs, next)
		}
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 7, Epoch: 0, Commit: false,
			Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}, {Topic: "t", Part: 0}, {Topic: "nope", Part: 3}}}); err != nil {
			t.Fatal(err)
		}
		if got := lso(t, l, "t", 0); got != 7 {
			t.Fatalf("LSO after the abort = %d, want 7 (marker at 6)", got)
		}
		ab, err := l.AbortedTransactions("t", 0, 0, 7)
		if err != nil || !slices.Equal(ab, []wal.AbortedTxn{{ProducerID: 7, FirstOffset: 2, LastOffset: 6}}) {
			t.Fatalf("aborted = %v, %v", ab, err)
		}
		if ab, _ := l.AbortedTransactions("t", 0, 7, 9); len(ab) != 0 {
			t.Fatalf("aborted past the marker = %v", ab)
		}
		appendBatch(t, l, "t", 0, txnBatch(t, 7, 0, 3, 2, "b")) // 7-8, txn B
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 7, Epoch: 0, Commit: true, Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}}}); err != nil {
			t.Fatal(err)
		}
		if got := lso(t, l, "t", 0); got != 10 {
			t.Fatalf("LSO after the commit = %d, want 10", got)
		}
		set, _, err = l.ReadBatchesIsolated(ctx, "t", 0, 0, 1<<20, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		want := []seenBatch{{0, false, 0}, {2, false, 0}, {5, false, 0}, {6, true, kbatch.ControlAbort}, {7, false, 0}, {9, true, kbatch.ControlCommit}}
		if got := batchesIn(t, set); !slices.Equal(got, want) {
			t.Fatalf("batches %v, want %v", got, want)
		}
		if offs, next := committedOffsets(t, l, "t", 0, 0); !slices.Equal(offs, []int64{0, 1, 5, 7, 8}) || next != 10 {
			t.Fatalf("ReadCommitted: %v next %d", offs, next)
		}
		// Ending a transaction the producer no longer has writes nothing.
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 7, Commit: true, Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}}}); err != nil {
			t.Fatal(err)
		}
		if _, end, _ := l.Offsets("t", 0); end != 10 {
			t.Fatalf("end = %d after an empty end", end)
		}
		// The aborted index and LSO survive a reopen.
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		if ab, _ := l.AbortedTransactions("t", 0, 0, 10); len(ab) != 1 || ab[0].LastOffset != 6 {
			t.Fatalf("aborted after reopen = %v", ab)
		}
		if got := lso(t, l, "t", 0); got != 10 {
			t.Fatalf("LSO after reopen = %d", got)
		}
	})
}

// TestTxnOpenAbortedAtOpen: a transaction left open by a stop (its
// records stored, no marker) is aborted when the log opens again: its
// registered epoch is bumped, an abort marker carries the new epoch, and
// the LSO is the end again.
func TestTxnOpenAbortedAtOpen(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "t", 2)
		if err := l.SetTxnProducer(ctx, "app-1", wal.TxnProducer{ProducerID: 40, Epoch: 3, TimeoutMillis: 60000}); err != nil {
			t.Fatal(err)
		}
		appendBatch(t, l, "t", 0, txnBatch(t, 40, 3, 0, 2, "x"))
		appendBatch(t, l, "t", 1, txnBatch(t, 40, 3, 0, 1, "y"))
		if got := l.OpenTransactions(); len(got[40]) != 2 {
			t.Fatalf("open = %v", got)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		if got := l.OpenTransactions(); len(got) != 0 {
			t.Fatalf("open after reopen = %v", got)
		}
		tp, ok := l.TxnProducer("app-1")
		if !ok || tp.ProducerID != 40 || tp.Epoch != 4 || tp.TimeoutMillis != 60000 {
			t.Fatalf("registry after reopen = %+v %v", tp, ok)
		}
		for part, end := range []int64{3, 2} {
			if got := lso(t, l, "t", int32(part)); got != end {
				t.Fatalf("LSO of %d = %d, want %d", part, got, end)
			}
			set, _, err := l.ReadBatchesIsolated(ctx, "t", int32(part), end-1, 1<<20, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := kbatch.ParseHeader(set)
			if typ, err := kbatch.ControlType(set); err != nil || typ != kbatch.ControlAbort || h.ProducerEpoch != 4 {
				t.Fatalf("marker of %d: type %d epoch %d %v", part, typ, h.ProducerEpoch, err)
			}
			if offs, _ := committedOffsets(t, l, "t", int32(part), 0); len(offs) != 0 {
				t.Fatalf("aborted records delivered: %v", offs)
			}
		}
	})
}

// TestTxnCommitWithOffsets: a commit stores the group offsets with the
// markers; an abort drops them.
func TestTxnCommitWithOffsets(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "in", 1)
		createKafka(t, l, "out", 1)
		for range 3 {
			appendBatch(t, l, "in", 0, producerBatch(t, -1, -1, -1, 1))
		}
		offsets := []wal.CursorCommit{{Topic: "in", Part: 0, Value: wal.CursorValue{Offset: 2, LeaderEpoch: -1}}}
		appendBatch(t, l, "out", 0, txnBatch(t, 5, 0, 0, 1, "o"))
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 5, Commit: false, Partitions: []wal.TxnPartition{{Topic: "out"}}, Offsets: map[string][]wal.CursorCommit{"g": offsets}}); err != nil {
			t.Fatal(err)
		}
		if c := l.GroupCursors("g"); len(c) != 0 {
			t.Fatalf("an abort stored offsets: %v", c)
		}
		appendBatch(t, l, "out", 0, txnBatch(t, 5, 0, 1, 1, "o"))
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 5, Commit: true, Partitions: []wal.TxnPartition{{Topic: "out"}}, Offsets: map[string][]wal.CursorCommit{"g": offsets}}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		if c := l.GroupCursors("g"); len(c) != 1 || c[0].Value.Offset != 2 {
			t.Fatalf("offsets after the commit and a reopen: %v", c)
		}
		// An offset that no longer validates is dropped, never the
		// markers: the transaction ends, its LSO moves on.
		appendBatch(t, l, "out", 0, txnBatch(t, 5, 0, 2, 1, "o"))
		bad := []wal.CursorCommit{{Topic: "in", Part: 0, Value: wal.CursorValue{Offset: 99}}}
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 5, Commit: true, Partitions: []wal.TxnPartition{{Topic: "out"}}, Offsets: map[string][]wal.CursorCommit{"g": bad}}); err == nil {
			t.Fatal("an offset past the end was accepted")
		}
		if _, end, _ := l.Offsets("out", 0); lso(t, l, "out", 0) != end || end != 6 {
			t.Fatalf("LSO %d, end %d after an end with a bad offset", lso(t, l, "out", 0), end)
		}
		if c := l.GroupCursors("g"); len(c) != 1 || c[0].Value.Offset != 2 {
			t.Fatalf("offsets after the bad one: %v", c)
		}
	})
}
