package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/onexbus/onexbus/store"
)

// The transactional-id registry: Kafka's transactional.id -> producer id,
// epoch and transaction timeout, so that a producer re-initialising with
// its transactional id after a restart gets the same producer id at a
// newer epoch, which fences the old instance. Stored in bucket txnids,
// key the transactional id, value version 1, producer id u64, epoch u16,
// timeout ms u32, CRC-32C u32 of key and value; a damaged entry is
// dropped with a warning at Open (that id then starts over with a new
// producer id, which fences nothing wrongly: the old id's open
// transactions are aborted at Open all the same).

var bucketTxnIDs = []byte("txnids")

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

// txnRegistry is the in-memory copy of bucket txnids.
type txnRegistry struct {
	mu    sync.Mutex // protects byID and byPID; held across a store write, never with another lock
	byID  map[string]TxnProducer
	byPID map[int64]string
}

// TxnProducer returns what the log keeps for transactional id id.
func (l *Log) TxnProducer(id string) (TxnProducer, bool) {
	r := &l.txnIDs
	r.mu.Lock()
	defer r.mu.Unlock()
	tp, ok := r.byID[id]
	return tp, ok
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

// SetTxnProducer stores tp for transactional id id, durably under every
// policy (as AllocateProducerID's reservations) before it returns: the
// store's commit, then a store sync under PolicyInterval and PolicyNone.
//
// It returns ErrClosed, ErrInvalidOption for an empty id or one over
// 32767 bytes, ctx's error, or the store's.
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
	r.mu.Lock()
	defer r.mu.Unlock()
	key := []byte(id)
	err := l.st.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket(bucketTxnIDs)
		if err != nil {
			return err
		}
		return b.Put(key, encodeTxnProducer(key, tp))
	})
	if err == nil && l.cfg.policy != PolicySync {
		if s, ok := l.st.(store.Syncer); ok {
			err = s.Sync()
		}
	}
	if err != nil {
		return fmt.Errorf("wal: store transactional id %q: %w", id, err)
	}
	if r.byID == nil {
		r.byID, r.byPID = make(map[string]TxnProducer), make(map[int64]string)
	}
	if old, ok := r.byID[id]; ok && old.ProducerID != tp.ProducerID {
		delete(r.byPID, old.ProducerID)
	}
	r.byID[id] = tp
	r.byPID[tp.ProducerID] = id
	return nil
}

func encodeTxnProducer(key []byte, tp TxnProducer) []byte {
	b := make([]byte, 0, 1+8+2+4+4)
	b = append(b, txnStateVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(tp.ProducerID))
	b = binary.BigEndian.AppendUint16(b, uint16(tp.Epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(tp.TimeoutMillis))
	return appendKeyCRC(key, b)
}

// loadTxnRegistry reads bucket txnids (recovery).
func (l *Log) loadTxnRegistry(tx store.Tx) {
	b := tx.Bucket(bucketTxnIDs)
	if b == nil {
		return
	}
	r := &l.txnIDs
	r.byID, r.byPID = make(map[string]TxnProducer), make(map[int64]string)
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		body, ok := checkKeyCRC(k, v)
		if !ok || len(body) != 1+8+2+4 || body[0] != txnStateVersion {
			l.cfg.logger.Warn("damaged transactional id dropped", "transactional_id", string(k))
			continue
		}
		tp := TxnProducer{
			ProducerID:    int64(binary.BigEndian.Uint64(body[1:])),
			Epoch:         int16(binary.BigEndian.Uint16(body[9:])),
			TimeoutMillis: int32(binary.BigEndian.Uint32(body[11:])),
		}
		id := string(k)
		r.byID[id] = tp
		r.byPID[tp.ProducerID] = id
	}
}
