package kafka

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/breaker"
)

// fwdBatch is a run of messages of one partition produced together: the
// kgo records made from them, straight from the log's bytes (see
// readBatch), and each record's outcome.
//
// Its slabs (records, offsets, outcomes, header and byte slabs, and the
// records' promises) are reused from batch to batch through batchPool, so
// that forwarding allocates per batch, not per record: a batch goes back
// to the pool (release) only once every record's promise has run (done
// is closed: kgo holds a record until it gives its outcome, and touches
// it no more after the promise) and runPartition is finished with it.
// The promise of record i is a function made once for slot i of the
// batch and kept with it, not a closure per record produced. (The
// record's Context cannot carry the index: kgo hooks, tracing for
// instance, replace it.)
type fwdBatch struct {
	first, end int64 // offsets [first, end)
	recs       []kgo.Record
	offs       []int64                    // each record's offset in the local log
	ok         []bool                     // written by the promises; read after done
	errs       []error                    // each record's error, where it failed
	promises   []func(*kgo.Record, error) // promises[i] records recs[i]'s outcome
	enc        headerEncoder              // header, key and value bytes of recs
	pending    atomic.Int64               // records without their outcome yet
	done       chan struct{}              // closed once every record has its outcome
	err        error                      // the first record error by index; set before done closes
	pass       breaker.Pass               // the breaker's leave to produce it; settle gives it back
}

// batchPool holds released batches. A sync.Pool, not a list per
// partition: idle partitions keep no slabs, and the collector frees
// what is not reused.
var batchPool = sync.Pool{New: func() any { return new(fwdBatch) }}

// maxPooledBytes bounds the byte slab a released batch keeps: a batch of
// unusually large messages gives its slab to the collector instead of
// the pool.
const maxPooledBytes = 16 << 20

// readBatch reads up to limit messages of partition k from next into a
// batch: each message is copied once, from the log's bytes into the
// batch's slab, with its headers encoded as enc writes them. It returns
// nil without error when there is nothing to read.
func (f *Forwarder) readBatch(k tpKey, next int64, limit int) (*fwdBatch, error) {
	b := batchPool.Get().(*fwdBatch)
	b.enc.reset(f.fc.headers, k.topic)
	b.recs, b.offs = b.recs[:0], b.offs[:0]
	if _, err := f.bus.ReadMessages(f.ctx, k.topic, k.part, next, limit, b.add); err != nil || len(b.recs) == 0 {
		b.release()
		return nil, err
	}
	b.first, b.end = b.offs[0], b.offs[len(b.offs)-1]+1
	return b, nil
}

// add appends m as one record. m and its bytes belong to the log and are
// valid only during the call (core.Bus.ReadMessages): everything the
// record needs is copied into the batch.
func (b *fwdBatch) add(m *core.Message) error {
	e := &b.enc
	rec := kgo.Record{Topic: e.topic, Timestamp: m.Timestamp, Headers: e.encode(&m.Headers), Value: e.copyBytes(m.Value)}
	switch {
	case len(m.Key) > 0:
		rec.Key = e.copyBytes(m.Key)
	case m.Headers.PartitionKey != "":
		rec.Key = e.copyText(m.Headers.PartitionKey)
	}
	b.recs = append(b.recs, rec)
	b.offs = append(b.offs, m.Offset)
	return nil
}

// outcome records the outcome of record i and, for the last record of
// the batch, closes done.
func (b *fwdBatch) outcome(i int, err error) {
	if err != nil {
		b.errs[i] = err
	} else {
		b.ok[i] = true
	}
	if b.pending.Add(-1) == 0 {
		for _, e := range b.errs {
			if e != nil {
				b.err = e
				break
			}
		}
		close(b.done)
	}
}

// acked returns the offset of b's first record without an ack (b.end if
// every record has one), and that record's error.
func (b *fwdBatch) acked() (int64, error) {
	for i, ok := range b.ok {
		if !ok {
			return b.offs[i], b.errs[i]
		}
	}
	return b.end, nil
}

// release gives b back to the pool. Only after done is closed and once
// nothing reads b any more.
func (b *fwdBatch) release() {
	clear(b.recs) // the records' references to the slabs and the topic
	clear(b.errs)
	b.err, b.done, b.pass = nil, nil, breaker.Pass{}
	if cap(b.enc.buf) > maxPooledBytes {
		b.enc.buf = nil
	}
	batchPool.Put(b)
}

// produce hands b's records to kgo; b.done closes once every record has
// its outcome.
func (f *Forwarder) produce(b *fwdBatch) {
	n := len(b.recs)
	b.ok, b.errs = resize(b.ok, n), resize(b.errs, n)
	clear(b.ok)
	clear(b.errs)
	for i := len(b.promises); i < n; i++ {
		b.promises = append(b.promises, func(_ *kgo.Record, err error) { b.outcome(i, err) })
	}
	b.err, b.done = nil, make(chan struct{})
	b.pending.Store(int64(n))
	for i := range b.recs {
		// Produce's context is not f.ctx: an idempotent record cannot be
		// withdrawn once buffered, so Close lets it finish instead.
		f.cl.Produce(context.Background(), &b.recs[i], b.promises[i])
	}
}

// resize returns s with length n, reusing its array when it is large
// enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
