package wal_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/wal"
)

// TestActiveProducers: a partition lists its producers by id with their
// epoch and last sequence, and the first offset of an open transaction
// until it ends; the registry lists its transactional ids sorted.
func TestActiveProducers(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "t", 2)
		appendBatch(t, l, "t", 0, producerBatch(t, 9, 2, 0, 3)) // 0-2, sequences 0-2
		appendBatch(t, l, "t", 0, txnBatch(t, 4, 1, 0, 2, "a")) // 3-4, txn open from 3
		appendBatch(t, l, "t", 0, producerBatch(t, 9, 2, 3, 1)) // 5, sequence 3
		got, err := l.ActiveProducers("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		type seen struct {
			pid   int64
			epoch int16
			seq   int32
			txn   int64
		}
		var s []seen
		for _, a := range got {
			if a.LastAppend.IsZero() {
				t.Fatalf("producer %d without its last append time", a.ProducerID)
			}
			s = append(s, seen{a.ProducerID, a.Epoch, a.LastSequence, a.TxnStartOffset})
		}
		if want := []seen{{4, 1, 1, 3}, {9, 2, 3, -1}}; !slices.Equal(s, want) {
			t.Fatalf("active producers %+v, want %+v", s, want)
		}
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 4, Epoch: 1, Commit: true, Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}}}); err != nil {
			t.Fatal(err)
		}
		got, _ = l.ActiveProducers("t", 0)
		if len(got) != 2 || got[0].ProducerID != 4 || got[0].TxnStartOffset != -1 {
			t.Fatalf("after the commit: %+v", got)
		}
		if got, err := l.ActiveProducers("t", 1); err != nil || len(got) != 0 {
			t.Fatalf("empty partition: %+v, %v", got, err)
		}
		if _, err := l.ActiveProducers("t", 2); !errors.Is(err, wal.ErrInvalidPartition) {
			t.Fatalf("partition 2: %v", err)
		}
		if _, err := l.ActiveProducers("nope", 0); !errors.Is(err, wal.ErrUnknownTopic) {
			t.Fatalf("unknown topic: %v", err)
		}
		for i, id := range []string{"b", "a", "c"} {
			if err := l.SetTxnProducer(ctx, id, wal.TxnProducer{ProducerID: int64(20 + i), Epoch: 0, TimeoutMillis: 1000}); err != nil {
				t.Fatal(err)
			}
		}
		if ids := l.TxnIDs(); !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Fatalf("TxnIDs = %v", ids)
		}
	})
}
