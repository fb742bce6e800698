package wal

import (
	"encoding/binary"
	"slices"

	"github.com/onexbus/onexbus/store"
)

// The aborted-transaction index of a partition, bounded in memory.
//
// Every entry is in the store (bucket txnparts, key kind 'a' by marker
// offset, txn.go), written by the commit that stores its marker. Memory
// holds, per partition, the entries whose marker is at or past memFloor;
// the log's entries in memory, all partitions together, stay within
// WithAbortedIndexMemory, plus the entries whose marker is not committed
// yet (an entry leaves memory only once its store write committed). When
// an abort takes the log past the bound, the partition that aborted
// drops its own oldest committed entries and raises its memFloor past
// them. A read whose range starts below memFloor reads the entries in
// [from, memFloor) from the store, in one read transaction: a
// transaction's records start at most maxSpan offsets before its marker
// (the longest transaction the partition has had), so entries with
// markers at or past to+maxSpan are never read.
//
// As the partition's start moves (retention), the entries before it are
// deleted: the ones in memory one by one, the ones only in the store by
// a range [storeFrom, min(start, memFloor)) in the next commit that
// takes the partition.

// setAbortedBoundLocked lets t count its entries in l's total; p.mu is
// held.
func (l *Log) setAbortedBoundLocked(t *txnTable) {
	if t.mem == nil {
		t.mem, t.memCap = &l.txnIDs.abortedInMemory, int64(l.cfg.txn.abortedInMemory)
	}
}

// addAbortedLocked indexes a, whose marker was just queued on p; p.mu
// is held.
func (l *Log) addAbortedLocked(p *partition, a AbortedTxn) {
	t := &p.prod.txn
	l.setAbortedBoundLocked(t)
	t.aborted = append(t.aborted, a)
	t.maxSpan = max(t.maxSpan, a.LastOffset-a.FirstOffset)
	t.mem.Add(1)
	p.trimAbortedLocked()
}

// trimAbortedLocked drops p's oldest committed entries from memory while
// the log holds more than its bound; p.mu is held.
func (p *partition) trimAbortedLocked() {
	t := &p.prod.txn
	if t.mem == nil {
		return
	}
	stored := max(p.stored, t.committedTo)
	n := 0
	for n < len(t.aborted) && t.aborted[n].LastOffset < stored && t.mem.Load()-int64(n) > t.memCap {
		n++
	}
	if n == 0 {
		return
	}
	t.memFloor = t.aborted[n-1].LastOffset + 1
	clear(t.aborted[:n])
	t.aborted = t.aborted[n:]
	t.mem.Add(-int64(n))
}

// retainAbortedLocked forgets the entries before p's start, in memory
// and (by the writes it queues) in the store; p.mu is held.
func (p *partition) retainAbortedLocked() {
	t := &p.prod.txn
	n := 0
	for n < len(t.aborted) && t.aborted[n].LastOffset < p.start {
		t.dirty = append(t.dirty, txnWrite{key: txnKey(p.topic, p.id, txnKindAborted, uint64(t.aborted[n].LastOffset))})
		n++
	}
	if n > 0 {
		clear(t.aborted[:n])
		t.aborted = t.aborted[n:]
		t.mem.Add(-int64(n))
	}
	if to := min(p.start, t.memFloor); t.storeFrom < to {
		t.dirty = append(t.dirty, txnWrite{
			key: txnKey(p.topic, p.id, txnKindAborted, uint64(t.storeFrom)),
			end: txnKey(p.topic, p.id, txnKindAborted, uint64(to)),
		})
		t.storeFrom = to
	}
}

// dropAbortedLocked takes a deleted partition's entries out of the
// log's total; p.mu is held.
func (p *partition) dropAbortedLocked() {
	t := &p.prod.txn
	if t.mem != nil && len(t.aborted) > 0 {
		t.mem.Add(-int64(len(t.aborted)))
	}
	t.aborted = nil
}

// abortedQuery is what an aborted-index read needs from the store, taken
// under p.mu: the store is read after it is released.
type abortedQuery struct {
	from, to   int64 // the read's range
	scanTo     int64 // store entries with markers in [from, scanTo)
	fromMemory []AbortedTxn
}

// abortedLocked returns the aborted transactions of p with records in
// [from, to) that memory holds, and what the store must add; p.mu is
// held.
func (p *partition) abortedLocked(from, to int64) abortedQuery {
	t := &p.prod.txn
	q := abortedQuery{from: from, to: to}
	if from >= to {
		return q
	}
	// Markers at or past to+maxSpan belong to transactions starting at or
	// past to.
	limit := to + t.maxSpan
	if limit < to {
		limit = 1<<63 - 1
	}
	if from < t.memFloor && t.storeFrom < t.memFloor {
		q.scanTo = min(t.memFloor, limit+1)
	}
	a := t.aborted
	i, _ := slices.BinarySearchFunc(a, from, func(e AbortedTxn, off int64) int {
		switch {
		case e.LastOffset < off:
			return -1
		case e.LastOffset > off:
			return 1
		}
		return 0
	})
	for _, e := range a[i:] {
		if e.LastOffset > limit {
			break
		}
		if e.FirstOffset < to {
			q.fromMemory = append(q.fromMemory, e)
		}
	}
	return q
}

// abortedFromStore completes q with the entries only the store holds,
// in front of the ones from memory (their markers are all lower).
func (l *Log) abortedFromStore(p *partition, q abortedQuery) ([]AbortedTxn, error) {
	if q.scanTo <= q.from {
		return q.fromMemory, nil
	}
	var out []AbortedTxn
	err := l.st.View(func(tx store.Tx) error {
		b := tx.Bucket(bucketTxnParts)
		if b == nil {
			return nil
		}
		end := txnKey(p.topic, p.id, txnKindAborted, uint64(q.scanTo))
		c := b.Cursor()
		for k, v := c.Seek(txnKey(p.topic, p.id, txnKindAborted, uint64(q.from))); k != nil && string(k) < string(end); k, v = c.Next() {
			a, ok := decodeAbortedTxn(k, v)
			if !ok {
				l.cfg.logger.Warn("damaged aborted transaction entry skipped", "key", k)
				continue
			}
			if a.FirstOffset < q.to {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, q.fromMemory...), nil
}

// decodeAbortedTxn decodes an entry of kind 'a' (its key names the
// marker offset).
func decodeAbortedTxn(k, v []byte) (AbortedTxn, bool) {
	body, ok := checkKeyCRC(k, v)
	if !ok || len(k) < 8 || len(body) != 1+8+8 || body[0] != txnStateVersion {
		return AbortedTxn{}, false
	}
	return AbortedTxn{
		ProducerID:  int64(binary.BigEndian.Uint64(body[1:])),
		FirstOffset: int64(binary.BigEndian.Uint64(body[9:])),
		LastOffset:  int64(binary.BigEndian.Uint64(k[len(k)-8:])),
	}, true
}

// deleteRange deletes the keys in [from, to) of b.
func deleteRange(b store.Bucket, from, to []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(from); k != nil && string(k) < string(to); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// AbortedIndexInMemory returns how many aborted-transaction entries the
// log holds in memory, all partitions together (WithAbortedIndexMemory
// bounds it, plus the entries whose marker is not committed yet).
func (l *Log) AbortedIndexInMemory() int { return int(l.txnIDs.abortedInMemory.Load()) }
