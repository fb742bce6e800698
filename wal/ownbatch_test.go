package wal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// ownBatch builds a bus batch: one record per id, each with a message_id
// header (none for uuid.Nil).
func ownBatch(t *testing.T, ids ...uuid.UUID) ([]byte, []wal.BatchID) {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	var bids []wal.BatchID
	for i, id := range ids {
		b.StartRecord(1_700_000_000_000+int64(i), nil, []byte("v"))
		if id != uuid.Nil {
			b.HeaderString("message_id", id.String())
		}
		b.HeaderString("source", "s")
		if err := b.EndRecord(); err != nil {
			t.Fatal(err)
		}
		bids = append(bids, wal.BatchID{MessageID: id})
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out, bids
}

func appendOwn(t *testing.T, l *wal.Log, part int32, batch []byte, ids []wal.BatchID) ([]wal.BatchDuplicate, wal.BatchResult) {
	t.Helper()
	ch := make(chan wal.BatchResult, 1)
	dups, err := l.AppendOwnBatch(context.Background(), "k", part, batch, ids, func(r wal.BatchResult) { ch <- r })
	if err != nil {
		t.Fatal(err)
	}
	if dups != nil {
		return dups, wal.BatchResult{}
	}
	r := <-ch
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return nil, r
}

// The bus's message_id dedup on a FormatKafka topic: a batch carrying an
// id seen within the window is refused whole, naming the first copy, on
// any partition of the topic and after a reopen (the ids are rebuilt from
// the stored batches' message_id headers).
func TestAppendOwnBatchDedupsMessageIDs(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		l := openLog(t, open(t), wal.WithDedup(time.Hour, 1000))
		createKafka(t, l, "k", 2)
		a, b, c := uuid.New(), uuid.New(), uuid.New()
		batch, ids := ownBatch(t, a, uuid.Nil, b)
		if dups, r := appendOwn(t, l, 0, batch, ids); dups != nil || r.BaseOffset != 0 {
			t.Fatalf("first batch: dups %v, base %d", dups, r.BaseOffset)
		}
		again, againIDs := ownBatch(t, c, b)
		dups, _ := appendOwn(t, l, 1, again, againIDs)
		if len(dups) != 1 || dups[0] != (wal.BatchDuplicate{Index: 1, Partition: 0, Offset: 2}) {
			t.Fatalf("duplicate of b: %+v", dups)
		}
		if _, end, _ := l.Offsets("k", 1); end != 0 {
			t.Fatalf("a refused batch was stored: end %d", end)
		}
		// c was not remembered by the refused batch.
		onlyC, onlyCIDs := ownBatch(t, c)
		if dups, r := appendOwn(t, l, 1, onlyC, onlyCIDs); dups != nil || r.BaseOffset != 0 {
			t.Fatalf("c after the refusal: %v %+v", dups, r)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}

		l = openLog(t, open(t), wal.WithDedup(time.Hour, 1000))
		for _, tc := range []struct {
			id   uuid.UUID
			want wal.BatchDuplicate
		}{{a, wal.BatchDuplicate{Partition: 0, Offset: 0}}, {b, wal.BatchDuplicate{Partition: 0, Offset: 2}}, {c, wal.BatchDuplicate{Partition: 1, Offset: 0}}} {
			batch, ids := ownBatch(t, tc.id)
			dups, _ := appendOwn(t, l, 1, batch, ids)
			if len(dups) != 1 || dups[0] != tc.want {
				t.Fatalf("after reopen, %v: %+v, want %+v", tc.id, dups, tc.want)
			}
		}
	})
}

func TestAppendOwnBatchRefusesMismatchedIDs(t *testing.T) {
	l := openLog(t, memstore.New())
	createKafka(t, l, "k", 1)
	batch, ids := ownBatch(t, uuid.New(), uuid.New())
	if _, err := l.AppendOwnBatch(context.Background(), "k", 0, batch, ids[:1], func(wal.BatchResult) {}); !errors.Is(err, wal.ErrInvalidBatch) {
		t.Fatalf("1 id for 2 records: %v", err)
	}
	b := kbatch.NewBuilder(kbatch.CodecNone)
	b.SetProducer(5, 0, 0)
	_ = b.Add(1, nil, nil, nil)
	idem, _ := b.Finish(nil)
	if _, err := l.AppendOwnBatch(context.Background(), "k", 0, idem, ids[:1], func(wal.BatchResult) {}); !errors.Is(err, wal.ErrInvalidBatch) {
		t.Fatalf("a producer's batch: %v", err)
	}
}
