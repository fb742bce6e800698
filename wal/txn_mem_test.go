package wal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// TestTxnMemoryPerEntry measures the heap the log keeps per registered
// transactional id and per aborted-transaction entry in memory, and
// holds them to a bound (the closing note quotes the logged figures).
//
// Ids: n ids of 16 bytes are registered (on a bbolt file, whose pages
// are not Go heap, with PolicyNone so the test is not n fsyncs); the
// heap after GC with the log open, minus the same log with none.
// Aborted entries: the same n aborted transactions written twice, on
// logs keeping n entries in memory and none; the heap difference is the
// index (the memory store's contents are the same in both).
func TestTxnMemoryPerEntry(t *testing.T) {
	ctx := context.Background()
	const n = 20_000
	openIDs := func(ids int) (uint64, func()) {
		path := filepath.Join(t.TempDir(), "ids.db")
		st, err := bolt.Open(path, bolt.WithNoSync(true))
		if err != nil {
			t.Fatal(err)
		}
		l, err := wal.Open(st, wal.WithMaxTxnIDs(n)) // PolicySync on a NoSync file: no fsync per id
		if err != nil {
			t.Fatal(err)
		}
		for i := range ids {
			if err := l.SetTxnProducer(ctx, fmt.Sprintf("transaction-%06d", i), wal.TxnProducer{ProducerID: int64(i), TimeoutMillis: 60_000}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st, err = bolt.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		before := heapAfterGC()
		l, err = wal.Open(st, wal.WithMaxTxnIDs(n))
		if err != nil {
			t.Fatal(err)
		}
		return heapAfterGC() - before, func() { _ = l.Close(ctx); _ = st.Close() }
	}
	base, closeBase := openIDs(0)
	closeBase()
	full, closeFull := openIDs(n)
	perID := float64(int64(full)-int64(base)) / n
	closeFull()

	const na = 5_000
	abortedHeap := func(keep int) uint64 {
		l, err := wal.Open(memstore.New(), wal.WithAbortedIndexMemory(keep))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close(ctx) }()
		createKafka(t, l, "t", 1)
		for i := range na {
			pid := int64(i % 8)
			appendBatch(t, l, "t", 0, txnBatch(t, pid, 0, int32(i/8), 1, "r"))
			if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: pid, Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}}}); err != nil {
				t.Fatal(err)
			}
		}
		if got := l.AbortedIndexInMemory(); got != min(keep, na) {
			t.Fatalf("%d entries in memory, want %d", got, min(keep, na))
		}
		h := heapAfterGC()
		runtime.KeepAlive(l)
		return h
	}
	none := abortedHeap(0)
	all := abortedHeap(na)
	perAborted := float64(int64(all)-int64(none)) / na
	t.Logf("heap per transactional id (18-byte id): %.0f B (%d ids); per aborted entry in memory: %.0f B (%d entries)", perID, n, perAborted, na)
	if perID > 400 || perAborted > 120 {
		t.Fatalf("per id %.0f B (bound 400), per aborted entry %.0f B (bound 120)", perID, perAborted)
	}
}
