package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Producer ids are handed out from blocks reserved in the store before
// use: meta key producerids holds the end of the newest reserved block.
// After a restart allocation resumes at that end, so an id is never
// given twice, whatever the crash lost (at most the rest of a block goes
// unused).

// producerIDBlock is how many producer ids one store write reserves.
const producerIDBlock = 1000

var keyProducerIDs = []byte("producerids")

// producers is the log-wide part of the idempotent-producer state.
type producers struct {
	mu    sync.Mutex // protects next and limit; held across a block's store write, never with another lock
	next  int64      // the next id to hand out
	limit int64      // ids below it are reserved in the store

	lastExpiry time.Time // when the committer last expired idle producers; the committer's alone
}

// AllocateProducerID returns a producer id never returned before by this
// log, across restarts (Kafka's InitProducerId for a producer without a
// transactional id). Every 1000th call reserves the next 1000 ids in the
// store first, durably under every policy: by the store's commit under
// PolicySync, followed by a store sync (when the store has one) under
// PolicyInterval and PolicyNone, whose stores may not sync commits.
//
// It returns ErrClosed, ctx's error, ErrProducerIDsExhausted, or an error
// of the store's write.
func (l *Log) AllocateProducerID(ctx context.Context) (int64, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("wal: allocate producer id: %w", err)
	}
	pr := &l.producers
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.next == pr.limit {
		if pr.limit > math.MaxInt64-producerIDBlock {
			return 0, ErrProducerIDsExhausted
		}
		limit := pr.limit + producerIDBlock
		err := l.st.Update(func(tx store.Tx) error {
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(keyProducerIDs, binary.BigEndian.AppendUint64(nil, uint64(limit)))
		})
		if err == nil && l.cfg.policy != PolicySync {
			// The stores of the other policies may not sync their commits;
			// a reservation must survive a power loss whatever the policy,
			// and costs one sync per block.
			if s, ok := l.st.(store.Syncer); ok {
				err = s.Sync()
			}
		}
		if err != nil {
			return 0, fmt.Errorf("wal: allocate producer id: reserve ids below %d: %w", limit, err)
		}
		pr.limit = limit
	}
	id := pr.next
	pr.next++
	return id, nil
}

// loadProducerIDs resumes allocation after the newest reserved block
// (recovery).
func (l *Log) loadProducerIDs(tx store.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil
	}
	v := meta.Get(keyProducerIDs)
	if v == nil {
		return nil
	}
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
		// Guessing would risk handing out ids again: refuse.
		return fmt.Errorf("%w: producer id reservation %x is malformed", ErrCorrupt, v)
	}
	l.producers.next = int64(binary.BigEndian.Uint64(v))
	l.producers.limit = l.producers.next
	return nil
}

// expireProducers forgets, on every partition, the producers idle for
// longer than the expiry; the committer calls it on its ticks and it
// does the work every producerExpiryEvery. The transactional ids have
// their own pass (txn_registry.go), run from here on the same ticks.
func (l *Log) expireProducers() {
	l.expireTxnIDs()
	now := l.cfg.now()
	// A negative gap is the clock stepping back: run the pass now (it
	// expires nothing early, idle times are measured on the same clock)
	// rather than wait until the clock is back at the last pass's time.
	if since := now.Sub(l.producers.lastExpiry); since >= 0 && since < l.producerExpiryEvery() {
		return
	}
	l.producers.lastExpiry = now
	l.mu.RLock()
	parts := l.parts
	l.mu.RUnlock()
	expired := false
	for _, p := range parts {
		p.mu.Lock()
		if l.expireProducersLocked(p, now.UnixMilli()) {
			expired = true
		}
		p.mu.Unlock()
	}
	if expired {
		l.kickCommitter()
	}
}
