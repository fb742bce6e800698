package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
)

// Kafka transactions in the log (research/kafka-broker.md §4.1).
//
// A transactional batch (kbatch attribute bit 4) opens its producer's
// transaction on the partition at the batch's base offset, unless one is
// open already. EndTransaction closes it with a control batch (a commit
// or abort marker, which takes an offset like any batch); an abort also
// adds (producer, first offset, marker offset) to the partition's
// aborted-transaction index. The last stable offset (LSO) of a partition
// is the first offset of its oldest transaction still open, or whose
// marker is not yet stored, else the visible end: read_committed readers
// never see past it.
//
// # Durability
//
// A partition's transaction changes are taken with its queued batches by
// the commit that stores them (producer.go's snapshot) and written in the
// same store transaction, bucket txnparts, as the producer windows are:
// after a crash the open transactions and the aborted index describe
// exactly the stored batches. Open then aborts every transaction left
// open (txn_end.go), so a restart never leaves the LSO stuck.
//
// Stored keys: <topic> 0x00 <part u32> 'o' <producer id u64> -> version
// 1, epoch u16, first offset u64 (an open transaction); <topic> 0x00
// <part u32> 'a' <marker offset u64> -> version 1, producer id u64,
// first offset u64 (an aborted one). Each value ends with a CRC-32C u32
// of the key and the value before it; a damaged entry is dropped with a
// warning at Open.

var bucketTxnParts = []byte("txnparts")

const txnStateVersion = 1

const (
	txnKindOpen    = 'o'
	txnKindAborted = 'a'
)

// AbortedTxn is one aborted transaction of a partition, as Kafka's Fetch
// lists them for read_committed consumers: the records of ProducerID
// from FirstOffset up to its abort marker at LastOffset are not to be
// delivered.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// openTxn is a producer's open transaction on a partition.
type openTxn struct {
	first int64
	epoch int16
}

// closingTxn is a transaction whose marker is queued but not stored: it
// holds the LSO back until the marker is durable.
type closingTxn struct {
	first, marker int64
}

// txnWrite is one store change of the bucket txnparts (value nil:
// delete; end set: delete the keys in [key, end)).
type txnWrite struct {
	key, value, end []byte
}

// txnTable is a partition's transaction state, under the partition's mu
// (inCommit: the committer's, between snapshot and end, as producer
// windows).
type txnTable struct {
	open    map[int64]openTxn
	closing []closingTxn
	// aborted is the aborted index in memory, ascending LastOffset: every
	// entry with LastOffset >= memFloor; the ones in [storeFrom,
	// memFloor) are only in the store (txn_index.go).
	aborted   []AbortedTxn
	memFloor  int64
	storeFrom int64
	maxSpan   int64         // the largest LastOffset-FirstOffset of the partition's entries
	mem       *atomic.Int64 // the log's entries in memory (nil until the first)
	memCap    int64         // WithAbortedIndexMemory
	dirty     []txnWrite
	inCommit  []txnWrite
	// snapNext is the partition's end when the commit in flight took
	// its snapshot; committedTo the end the last successful commit
	// covered (the entries before it are in the store).
	snapNext, committedTo int64
}

// noteTxnBatchLocked opens the transaction of a transactional batch
// admitted at base, if its producer has none open on p; p.mu is held.
func (p *partition) noteTxnBatchLocked(h *kbatch.Header, base int64) {
	if !h.Transactional() || h.Control() || h.ProducerID < 0 {
		return
	}
	t := &p.prod.txn
	if _, ok := t.open[h.ProducerID]; ok {
		return
	}
	if t.open == nil {
		t.open = make(map[int64]openTxn)
	}
	o := openTxn{first: base, epoch: h.ProducerEpoch}
	t.open[h.ProducerID] = o
	key := txnKey(p.topic, p.id, txnKindOpen, uint64(h.ProducerID))
	t.dirty = append(t.dirty, txnWrite{key: key, value: encodeOpenTxn(key, o)})
}

// queueMarkerLocked queues the control batch ending producer pid's open
// transaction on p, with epoch, and updates the transaction state; p.mu
// is held. It returns the offset after the marker, or -1 when pid has
// no transaction open on p (nothing is written).
func (l *Log) queueMarkerLocked(p *partition, pid int64, epoch int16, commit bool) int64 {
	t := &p.prod.txn
	o, ok := t.open[pid]
	if !ok {
		return -1
	}
	base := p.next
	marker := kbatch.AppendControlBatch(nil, pid, epoch, commit, l.cfg.now().UnixMilli(), 0)
	p.tail.appendBatch(l.limits(p), marker, base, 1)
	p.next++
	l.retainCountLocked(p)
	delete(t.open, pid)
	t.dirty = append(t.dirty, txnWrite{key: txnKey(p.topic, p.id, txnKindOpen, uint64(pid))})
	t.closing = append(t.closing, closingTxn{first: o.first, marker: base})
	if !commit {
		a := AbortedTxn{ProducerID: pid, FirstOffset: o.first, LastOffset: base}
		key := txnKey(p.topic, p.id, txnKindAborted, uint64(base))
		t.dirty = append(t.dirty, txnWrite{key: key, value: encodeAbortedTxn(key, a)})
		l.addAbortedLocked(p, a)
	}
	return p.next
}

// lsoLocked is p's last stable offset; p.mu is held. Closing
// transactions whose marker is stored are forgotten here.
func (l *Log) lsoLocked(p *partition) int64 {
	lso := l.visibleLocked(p)
	t := &p.prod.txn
	for _, o := range t.open {
		lso = min(lso, o.first)
	}
	if len(t.closing) > 0 {
		kept := t.closing[:0]
		for _, c := range t.closing {
			if l.cfg.policy == PolicySync && c.marker >= p.stored {
				kept = append(kept, c)
				lso = min(lso, c.first)
			}
		}
		clear(t.closing[len(kept):])
		t.closing = kept
	}
	return lso
}

// txnDirtyLocked reports whether p has transaction changes to store.
func (t *txnTable) dirtyLocked() bool { return len(t.dirty) > 0 }

// snapshotTxnLocked takes p's transaction changes for the commit that
// takes its queued batches now (p.mu held, with the tail's snapshot),
// after forgetting aborted transactions retention has passed.
func (p *partition) snapshotTxnLocked() {
	t := &p.prod.txn
	p.retainAbortedLocked()
	t.snapNext = p.next
	if len(t.dirty) == 0 {
		return
	}
	t.inCommit = append(t.inCommit, t.dirty...)
	t.dirty = nil
}

// writeTxnState stores the transaction changes the commit took, in tx.
func writeTxnState(tx store.Tx, p *partition) error {
	writes := p.prod.txn.inCommit
	if len(writes) == 0 {
		return nil
	}
	b, err := tx.CreateBucket(bucketTxnParts)
	if err != nil {
		return err
	}
	for _, w := range writes {
		switch {
		case w.end != nil:
			err = deleteRange(b, w.key, w.end)
		case w.value == nil:
			err = b.Delete(w.key)
		default:
			err = b.Put(w.key, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// txnCommittedLocked ends the commit's hold on the changes it took; p.mu
// is held. On failure they are changes again, before any made since.
func (p *partition) txnCommittedLocked(ok bool) {
	t := &p.prod.txn
	if !ok && len(t.inCommit) > 0 {
		t.dirty = append(t.inCommit, t.dirty...)
	}
	t.inCommit = nil
	if ok {
		t.committedTo = max(t.committedTo, t.snapNext)
		p.trimAbortedLocked() // the entries this commit stored may leave memory now
	}
}

func txnKey(topic string, part int32, kind byte, id uint64) []byte {
	k := producerPrefix(topic, part)
	k = append(k, kind)
	return binary.BigEndian.AppendUint64(k, id)
}

func encodeOpenTxn(key []byte, o openTxn) []byte {
	b := make([]byte, 0, 1+2+8+4)
	b = append(b, txnStateVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(o.epoch))
	b = binary.BigEndian.AppendUint64(b, uint64(o.first))
	return appendKeyCRC(key, b)
}

func encodeAbortedTxn(key []byte, a AbortedTxn) []byte {
	b := make([]byte, 0, 1+8+8+4)
	b = append(b, txnStateVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	return appendKeyCRC(key, b)
}

func appendKeyCRC(key, b []byte) []byte {
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, b)
	return binary.BigEndian.AppendUint32(b, crc)
}

// checkKeyCRC returns the body of a value ending in appendKeyCRC's CRC,
// or false when it does not match.
func checkKeyCRC(key, v []byte) ([]byte, bool) {
	if len(v) < 5 {
		return nil, false
	}
	body := v[:len(v)-4]
	if crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body) != binary.BigEndian.Uint32(v[len(v)-4:]) {
		return nil, false
	}
	return body, true
}

// loadTxnState reads the stored transaction state into the partitions
// (recovery). Damaged entries, entries of unknown partitions and ones
// naming offsets past their partition's end (which a commit never
// writes) are dropped with a warning; aborted transactions retention has
// passed are not kept.
func (l *Log) loadTxnState(tx store.Tx) {
	l.loadTxnRegistry(tx)
	b := tx.Bucket(bucketTxnParts)
	if b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		reason := l.loadTxnEntry(k, v)
		if reason != "" {
			l.cfg.logger.Warn("damaged transaction state dropped", "key", k, "reason", reason)
		}
	}
}

func (l *Log) loadTxnEntry(k, v []byte) string {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+1+4+1+8 {
		return "malformed key"
	}
	topic := string(k[:i])
	part := int32(binary.BigEndian.Uint32(k[i+1:]))
	kind := k[i+5]
	id := int64(binary.BigEndian.Uint64(k[i+6:]))
	var p *partition
	if t := l.topics[topic]; t != nil && part >= 0 && int(part) < len(t.parts) {
		p = t.parts[part]
	}
	if p == nil {
		return fmt.Sprintf("no partition %s/%d", topic, part)
	}
	body, ok := checkKeyCRC(k, v)
	if !ok || body[0] != txnStateVersion {
		return "CRC mismatch or unknown version"
	}
	t := &p.prod.txn
	switch {
	case kind == txnKindOpen && len(body) == 1+2+8:
		o := openTxn{epoch: int16(binary.BigEndian.Uint16(body[1:])), first: int64(binary.BigEndian.Uint64(body[3:]))}
		if o.first < 0 || o.first >= p.next {
			return fmt.Sprintf("open transaction at offset %d past the partition's end %d", o.first, p.next)
		}
		if t.open == nil {
			t.open = make(map[int64]openTxn)
		}
		t.open[id] = o
	case kind == txnKindAborted && len(body) == 1+8+8:
		a := AbortedTxn{ProducerID: int64(binary.BigEndian.Uint64(body[1:])), FirstOffset: int64(binary.BigEndian.Uint64(body[9:])), LastOffset: id}
		if a.LastOffset >= p.next || a.FirstOffset > a.LastOffset {
			return fmt.Sprintf("aborted transaction %d-%d past the partition's end %d", a.FirstOffset, a.LastOffset, p.next)
		}
		// Keys come in marker order: the index stays sorted. Entries
		// retention has passed are left to the store (retainAbortedLocked
		// deletes them), as are the oldest past the memory bound.
		l.setAbortedBoundLocked(t)
		t.maxSpan = max(t.maxSpan, a.LastOffset-a.FirstOffset)
		if a.LastOffset < p.start {
			t.memFloor = max(t.memFloor, a.LastOffset+1)
			break
		}
		t.aborted = append(t.aborted, a)
		t.mem.Add(1)
		p.trimAbortedLocked()
	default:
		return "unknown entry kind or length"
	}
	return ""
}

// deleteTxnState deletes the stored transaction state of topic.
func deleteTxnState(tx store.Tx, topic string) error {
	return deleteTopicKeys(tx, bucketTxnParts, topic)
}
