package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onexbus/onexbus/store"
)

// The transactional-id registry: Kafka's transactional.id -> producer id,
// epoch and transaction timeout, so that a producer re-initialising with
// its transactional id after a restart gets the same producer id at a
// newer epoch, which fences the old instance. Stored in bucket txnids,
// key the transactional id, value version 2, producer id u64, epoch u16,
// timeout ms u32, last use (Unix ms) u64, CRC-32C u32 of key and value
// (version 1, without the last use, is still read: its last use is taken
// as the Open time). A damaged entry is dropped with a warning at Open
// (that id then starts over with a new producer id, which fences nothing
// wrongly: the old id's open transactions are aborted at Open all the
// same).
//
// # Bounds
//
// At most WithMaxTxnIDs ids are registered; an id whose last use (its
// InitProducerId, or the end of one of its transactions) is older than
// WithTxnIDExpiry and that has no transaction open in the log is
// forgotten, in memory and in the store, by a pass the committer runs
// every expiry/64 (at least every second, at most every 10 minutes). A
// transaction's end only updates the last use in memory; the pass
// rewrites the stored one when it lags by more than expiry/16, so the
// store write costs nothing per transaction. After a restart the last
// use is taken as the stored one plus that lag, so an id is never
// forgotten early, and at most expiry/16 plus one pass late.

var bucketTxnIDs = []byte("txnids")

const (
	txnIDVersion1 = 1
	txnIDVersion  = 2
)

// TxnProducer is what the log keeps for one transactional id.
type TxnProducer struct {
	// ProducerID is the id the transactional producer writes with.
	ProducerID int64
	// Epoch is its current epoch; batches and requests of older epochs
	// are fenced.
	Epoch int16
	// TimeoutMillis is the producer's transaction.timeout.ms.
	TimeoutMillis int32
}

// txnIDEntry is one registered transactional id.
type txnIDEntry struct {
	tp       TxnProducer
	usedAt   int64 // Unix ms of the last use
	storedAt int64 // the last use the store holds
}

// txnRegistry is the in-memory copy of bucket txnids.
type txnRegistry struct {
	// wmu serialises the registry's store writes, so the store and the
	// maps change in the same order; it is taken before mu, and held
	// across a store write (mu is not).
	wmu sync.Mutex
	// mu protects byID, byPID and lastPass; never held with another lock
	// but wmu.
	mu       sync.Mutex
	byID     map[string]*txnIDEntry
	byPID    map[int64]string
	lastPass time.Time // when the last expiry pass ran

	// abortedInMemory counts the aborted-index entries in memory, every
	// partition together (txn_index.go).
	abortedInMemory atomic.Int64
}

// TxnProducer returns what the log keeps for transactional id id.
func (l *Log) TxnProducer(id string) (TxnProducer, bool) {
	r := &l.txnIDs
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return TxnProducer{}, false
	}
	return e.tp, true
}

// TxnIDs returns every transactional id the log keeps, sorted.
func (l *Log) TxnIDs() []string {
	r := &l.txnIDs
	r.mu.Lock()
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// TxnIDOf returns the transactional id producer pid was registered with.
func (l *Log) TxnIDOf(pid int64) (string, bool) {
	r := &l.txnIDs
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byPID[pid]
	return id, ok
}

// TxnIDCount returns how many transactional ids are registered.
func (l *Log) TxnIDCount() int {
	r := &l.txnIDs
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// TouchTxnProducer records a use of transactional id id now (the start
// of a transaction), in memory: it pushes the id's expiry back. An
// unknown id is ignored.
func (l *Log) TouchTxnProducer(id string) {
	r := &l.txnIDs
	now := l.cfg.now().UnixMilli()
	r.mu.Lock()
	if e, ok := r.byID[id]; ok {
		e.usedAt = max(e.usedAt, now)
	}
	r.mu.Unlock()
}

// touchTxnPID is TouchTxnProducer by producer id (a transaction's end).
func (l *Log) touchTxnPID(pid int64) {
	r := &l.txnIDs
	now := l.cfg.now().UnixMilli()
	r.mu.Lock()
	if id, ok := r.byPID[pid]; ok {
		e := r.byID[id]
		e.usedAt = max(e.usedAt, now)
	}
	r.mu.Unlock()
}

// SetTxnProducer stores tp for transactional id id, with its last use
// now, durably under every policy (as AllocateProducerID's reservations)
// before it returns: the store's commit, then a store sync under
// PolicyInterval and PolicyNone. An id not registered yet needs room
// (WithMaxTxnIDs): when there is none, the expired ids are forgotten
// first, and if that frees none it fails with ErrTxnIDsFull.
//
// It returns ErrClosed, ErrInvalidOption for an empty id or one over
// 32767 bytes, ErrTxnIDsFull, ctx's error, or the store's.
func (l *Log) SetTxnProducer(ctx context.Context, id string, tp TxnProducer) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if id == "" || len(id) > 32767 {
		return fmt.Errorf("%w: transactional id of %d bytes", ErrInvalidOption, len(id))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wal: store transactional id: %w", err)
	}
	r := &l.txnIDs
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	_, known := r.byID[id]
	full := !known && len(r.byID) >= l.cfg.txn.maxIDs
	r.mu.Unlock()
	if full {
		if err := l.expireTxnIDsWLocked(l.cfg.now()); err != nil {
			return fmt.Errorf("wal: store transactional id %q: make room: %w", id, err)
		}
		r.mu.Lock()
		full = len(r.byID) >= l.cfg.txn.maxIDs
		r.mu.Unlock()
		if full {
			return fmt.Errorf("wal: store transactional id %q: %w (%d registered)", id, ErrTxnIDsFull, l.cfg.txn.maxIDs)
		}
	}
	now := l.cfg.now().UnixMilli()
	key := []byte(id)
	err := l.st.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket(bucketTxnIDs)
		if err != nil {
			return err
		}
		return b.Put(key, encodeTxnProducer(key, tp, now))
	})
	if err == nil && l.cfg.policy != PolicySync {
		if s, ok := l.st.(store.Syncer); ok {
			err = s.Sync()
		}
	}
	if err != nil {
		return fmt.Errorf("wal: store transactional id %q: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID, r.byPID = make(map[string]*txnIDEntry), make(map[int64]string)
	}
	if old, ok := r.byID[id]; ok && old.tp.ProducerID != tp.ProducerID {
		delete(r.byPID, old.tp.ProducerID)
	}
	r.byID[id] = &txnIDEntry{tp: tp, usedAt: now, storedAt: now}
	r.byPID[tp.ProducerID] = id
	return nil
}

// txnIDPassEvery is how often the committer runs the expiry pass.
func (l *Log) txnIDPassEvery() time.Duration {
	return min(max(l.cfg.txn.idExpiry/64, time.Second), 10*time.Minute)
}

// txnIDStoreLag is how far the stored last use may lag the one in memory
// before the pass rewrites it.
func (l *Log) txnIDStoreLag() time.Duration { return l.cfg.txn.idExpiry / 16 }

// expireTxnIDs runs the expiry pass when one is due (the committer's
// ticks). A failed pass is logged and retried at the next tick.
func (l *Log) expireTxnIDs() {
	r := &l.txnIDs
	now := l.cfg.now()
	r.mu.Lock()
	// A negative gap is the clock stepping back: run now, as
	// expireProducers does.
	since := now.Sub(r.lastPass)
	due := since < 0 || since >= l.txnIDPassEvery()
	r.mu.Unlock()
	if !due {
		return
	}
	r.wmu.Lock()
	err := l.expireTxnIDsWLocked(now)
	r.wmu.Unlock()
	if err != nil {
		l.cfg.logger.Warn("transactional id expiry pass failed; retrying at the next tick", "error", err)
	}
}

// ExpireTxnIDs runs the expiry pass now (see WithTxnIDExpiry) and
// returns how many transactional ids it forgot.
func (l *Log) ExpireTxnIDs() (int, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	r := &l.txnIDs
	r.wmu.Lock()
	defer r.wmu.Unlock()
	before := l.TxnIDCount()
	if err := l.expireTxnIDsWLocked(l.cfg.now()); err != nil {
		return 0, err
	}
	return before - l.TxnIDCount(), nil
}

// expireTxnIDsWLocked forgets the expired ids, in the store then in
// memory, and rewrites the stored last use of the ids where it lags;
// r.wmu is held.
func (l *Log) expireTxnIDsWLocked(now time.Time) error {
	r := &l.txnIDs
	nowMs := now.UnixMilli()
	expiry, lag := l.cfg.txn.idExpiry.Milliseconds(), l.txnIDStoreLag().Milliseconds()
	open := l.OpenTransactions()
	var gone []string
	type rewrite struct {
		id     string
		tp     TxnProducer
		usedAt int64
	}
	var stale []rewrite
	r.mu.Lock()
	r.lastPass = now
	for id, e := range r.byID {
		_, busy := open[e.tp.ProducerID]
		switch {
		case !busy && nowMs-e.usedAt > expiry:
			gone = append(gone, id)
		case e.usedAt-e.storedAt > lag:
			stale = append(stale, rewrite{id, e.tp, e.usedAt})
		}
	}
	r.mu.Unlock()
	if len(gone) == 0 && len(stale) == 0 {
		return nil
	}
	err := l.st.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket(bucketTxnIDs)
		if err != nil {
			return err
		}
		for _, id := range gone {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for _, s := range stale {
			key := []byte(s.id)
			if err := b.Put(key, encodeTxnProducer(key, s.tp, s.usedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wal: expire transactional ids: %w", err)
	}
	// The ids were chosen before the store write, outside r.mu: one used
	// again since (a transaction began or ended: memory only, r.wmu not
	// taken) stays registered, and the next pass stores it again (its
	// storedAt is reset, so it lags). Forgetting it would lose its
	// producer id and epoch while a producer uses them.
	open = l.OpenTransactions()
	r.mu.Lock()
	for _, id := range gone {
		e, ok := r.byID[id]
		if !ok {
			continue
		}
		if _, busy := open[e.tp.ProducerID]; busy || nowMs-e.usedAt <= expiry {
			e.storedAt = 0 // deleted from the store: the next pass writes it
			continue
		}
		delete(r.byID, id)
		if r.byPID[e.tp.ProducerID] == id {
			delete(r.byPID, e.tp.ProducerID)
		}
	}
	for _, s := range stale {
		if e, ok := r.byID[s.id]; ok {
			e.storedAt = max(e.storedAt, s.usedAt)
		}
	}
	r.mu.Unlock()
	if len(gone) > 0 {
		l.cfg.logger.Debug("transactional ids expired", "count", len(gone))
	}
	return nil
}

func encodeTxnProducer(key []byte, tp TxnProducer, usedAt int64) []byte {
	b := make([]byte, 0, 1+8+2+4+8+4)
	b = append(b, txnIDVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(tp.ProducerID))
	b = binary.BigEndian.AppendUint16(b, uint16(tp.Epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(tp.TimeoutMillis))
	b = binary.BigEndian.AppendUint64(b, uint64(usedAt))
	return appendKeyCRC(key, b)
}

// loadTxnRegistry reads bucket txnids (recovery). Every id is loaded,
// even past WithMaxTxnIDs (a smaller setting than the last run's): the
// cap then refuses new ids until enough expire.
func (l *Log) loadTxnRegistry(tx store.Tx) {
	b := tx.Bucket(bucketTxnIDs)
	if b == nil {
		return
	}
	r := &l.txnIDs
	r.byID, r.byPID = make(map[string]*txnIDEntry), make(map[int64]string)
	openedAt := l.cfg.now().UnixMilli()
	lag := (l.txnIDStoreLag() + l.txnIDPassEvery()).Milliseconds()
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		body, ok := checkKeyCRC(k, v)
		var e txnIDEntry
		switch {
		case ok && len(body) == 1+8+2+4 && body[0] == txnIDVersion1:
			e.storedAt, e.usedAt = openedAt, openedAt
		case ok && len(body) == 1+8+2+4+8 && body[0] == txnIDVersion:
			e.storedAt = int64(binary.BigEndian.Uint64(body[15:]))
			// The last use may have been up to the lag later than stored.
			e.usedAt = e.storedAt + lag
		default:
			l.cfg.logger.Warn("damaged transactional id dropped", "transactional_id", string(k))
			continue
		}
		e.tp = TxnProducer{
			ProducerID:    int64(binary.BigEndian.Uint64(body[1:])),
			Epoch:         int16(binary.BigEndian.Uint16(body[9:])),
			TimeoutMillis: int32(binary.BigEndian.Uint32(body[11:])),
		}
		id := string(k)
		r.byID[id] = &e
		r.byPID[e.tp.ProducerID] = id
	}
}
