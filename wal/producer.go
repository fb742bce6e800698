package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
)

// Idempotent-producer state (Kafka's, research/kafka-broker.md §4.1).
//
// Per (producer id, topic, partition) the log keeps the producer's epoch,
// the sequence ranges and base offsets of its last 5 batches (a client
// has at most 5 in flight, and each must stay recognisable after a lost
// connection) and the time of its last append. AppendBatch checks a
// batch against that window under the partition lock, in the same
// critical section that assigns its offsets, so pipelined batches are
// judged in order:
//
//   - a producer the partition does not know (never seen, or idle past
//     the expiry): any first sequence is accepted (KIP-360);
//   - an older epoch: ErrInvalidProducerEpoch;
//   - a newer epoch: accepted only with first sequence 0, and the window
//     starts over;
//   - the same epoch: a batch whose sequence range equals one of the 5 is
//     a duplicate and is answered with that batch's base offset (never an
//     OutOfOrderSequence: clients would reset and write it twice); one
//     that starts right after the newest is accepted; anything else is
//     ErrOutOfOrderSequence.
//
// Sequences run from 0 to MaxInt32 and wrap to 0, as Kafka's do.
//
// # Durability
//
// The window advances in memory when a batch is queued, and a partition's
// changed windows are taken with its queued batches by the commit that
// stores them and written in the same store transaction (bucket
// producers), so after a crash the stored batches and the stored windows
// agree exactly: a retry of a stored batch is a duplicate, a retry of one
// the crash lost is accepted once. A commit that fails puts the changes
// back, as it keeps the batches queued.
//
// Stored key <topic> 0x00 <part u32> <producer id u64>; value: version 1,
// epoch u16, last append u64 (unix ms), count u8, count × (first
// sequence u32, last sequence u32, base offset u64), CRC-32C u32 of the
// key and everything before it. A damaged entry is dropped with a
// warning at open: that producer is then unknown, as after an expiry.

// producerWindowSize is how many batches of a producer a partition
// remembers: a client's max.in.flight.requests.per.connection, at most 5
// with idempotence.
const producerWindowSize = 5

const producerStateVersion = 1

var bucketProducers = []byte("producers")

// seqBatch is one remembered batch of a producer.
type seqBatch struct {
	first, last int32 // sequence numbers of its first and last record
	base        int64 // offset of its first record
}

// producerWindow is one producer's state on one partition.
type producerWindow struct {
	epoch   int16
	batches [producerWindowSize]seqBatch // oldest first
	n       int                          // how many of batches hold one
	lastAt  int64                        // unix ms of the last accepted append
}

// push remembers an accepted batch, forgetting the oldest past 5.
func (w *producerWindow) push(b seqBatch) {
	if w.n == producerWindowSize {
		copy(w.batches[:], w.batches[1:])
		w.n--
	}
	w.batches[w.n] = b
	w.n++
}

// incrementSequence returns seq + inc in Kafka's sequence space, which
// wraps from MaxInt32 to 0.
func incrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// producerTable is a partition's producer windows. Its fields are
// protected by the partition's mu, except inCommit, which the committer
// alone owns between a commit's snapshot and its end.
type producerTable struct {
	windows  map[int64]*producerWindow
	dirty    map[int64]struct{} // changed since the last snapshot (absent window: delete)
	inCommit []producerWrite    // taken by the commit in progress

	txn txnTable // Kafka transactions on the partition (txn.go), under the same rules
}

// producerWrite is one stored entry a commit writes (value nil: delete).
type producerWrite struct {
	pid   int64
	value []byte
}

// admitLocked judges batch h, to be stored at base if admitted, against
// its producer's window; p.mu is held. It returns the original's base
// offset and true for a duplicate, base and false for a batch to append,
// or an error wrapping ErrInvalidProducerEpoch or ErrOutOfOrderSequence.
// Batches of no producer (id < 0) are always appended.
func (l *Log) admitProducerLocked(p *partition, h *kbatch.Header, base int64) (int64, bool, error) {
	pid := h.ProducerID
	if pid < 0 {
		return base, false, nil
	}
	if h.ProducerEpoch < 0 {
		return 0, false, fmt.Errorf("%w: producer %d sent epoch %d", ErrInvalidProducerEpoch, pid, h.ProducerEpoch)
	}
	if h.BaseSequence < 0 {
		return 0, false, fmt.Errorf("%w: producer %d sent sequence %d", ErrOutOfOrderSequence, pid, h.BaseSequence)
	}
	now := l.cfg.now().UnixMilli()
	b := seqBatch{first: h.BaseSequence, last: incrementSequence(h.BaseSequence, h.LastOffsetDelta), base: base}
	t := &p.prod
	w := t.windows[pid]
	if w != nil && (w.n == 0 || now-w.lastAt > l.cfg.producerExpiry.Milliseconds()) {
		w = nil // expired: as unknown
	}
	switch {
	case w == nil:
		w = &producerWindow{epoch: h.ProducerEpoch}
		if t.windows == nil {
			t.windows = make(map[int64]*producerWindow)
		}
		t.windows[pid] = w
	case h.ProducerEpoch < w.epoch:
		return 0, false, fmt.Errorf("%w: producer %d sent epoch %d, the partition has seen %d",
			ErrInvalidProducerEpoch, pid, h.ProducerEpoch, w.epoch)
	case h.ProducerEpoch > w.epoch:
		if b.first != 0 {
			return 0, false, fmt.Errorf("%w: producer %d bumped its epoch to %d with sequence %d, not 0",
				ErrOutOfOrderSequence, pid, h.ProducerEpoch, b.first)
		}
		w.epoch, w.n = h.ProducerEpoch, 0
	default:
		for _, old := range w.batches[:w.n] {
			if old.first == b.first && old.last == b.last {
				return old.base, true, nil
			}
		}
		if want := incrementSequence(w.batches[w.n-1].last, 1); b.first != want {
			return 0, false, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d",
				ErrOutOfOrderSequence, pid, w.epoch, b.first, want)
		}
	}
	w.push(b)
	w.lastAt = now
	t.markDirty(pid)
	p.noteTxnBatchLocked(h, base)
	return base, false, nil
}

func (t *producerTable) markDirty(pid int64) {
	if t.dirty == nil {
		t.dirty = make(map[int64]struct{})
	}
	t.dirty[pid] = struct{}{}
}

// dirtyLocked reports whether the partition has producer changes to
// store; p.mu is held.
func (t *producerTable) dirtyLocked() bool { return len(t.dirty) > 0 || t.txn.dirtyLocked() }

// snapshotLocked takes the partition's producer changes for the commit
// that takes its queued batches now; p.mu is held, in the same critical
// section as the tail's snapshot, so the windows taken describe exactly
// the batches taken.
func (p *partition) snapshotProducersLocked() {
	p.snapshotTxnLocked() // transaction state goes with the same batches
	t := &p.prod
	if len(t.dirty) == 0 {
		return
	}
	prefix := producerPrefix(p.topic, p.id)
	for pid := range t.dirty {
		w := producerWrite{pid: pid}
		if win := t.windows[pid]; win != nil {
			w.value = encodeProducerWindow(producerKey(prefix, pid), win)
		}
		t.inCommit = append(t.inCommit, w)
	}
	clear(t.dirty)
}

// writeProducers stores the producer changes the commit took, in its
// transaction tx.
func writeProducers(tx store.Tx, p *partition) error {
	if err := writeTxnState(tx, p); err != nil {
		return err
	}
	writes := p.prod.inCommit
	if len(writes) == 0 {
		return nil
	}
	b, err := tx.CreateBucket(bucketProducers)
	if err != nil {
		return err
	}
	prefix := producerPrefix(p.topic, p.id)
	for _, w := range writes {
		key := producerKey(prefix, w.pid)
		if w.value == nil {
			err = b.Delete(key)
		} else {
			err = b.Put(key, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// producersCommitted ends the commit's hold on the changes it took: on
// failure they are changes again (the windows themselves never went back,
// as the batches stay queued).
func (p *partition) producersCommitted(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txnCommittedLocked(ok)
	t := &p.prod
	if !ok {
		for _, w := range t.inCommit {
			t.markDirty(w.pid)
		}
	}
	t.inCommit = nil
}

// expireProducersLocked forgets producers idle for longer than expiry;
// p.mu is held. The next commit deletes them from the store.
func (l *Log) expireProducersLocked(p *partition, now int64) bool {
	any := false
	for pid, w := range p.prod.windows {
		if now-w.lastAt > l.cfg.producerExpiry.Milliseconds() {
			delete(p.prod.windows, pid)
			p.prod.markDirty(pid)
			any = true
		}
	}
	return any
}

func producerPrefix(topic string, part int32) []byte {
	b := make([]byte, 0, len(topic)+1+4+8)
	b = append(b, topic...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(part))
}

func producerKey(prefix []byte, pid int64) []byte {
	return binary.BigEndian.AppendUint64(prefix[:len(prefix):len(prefix)], uint64(pid))
}

func encodeProducerWindow(key []byte, w *producerWindow) []byte {
	b := make([]byte, 0, 1+2+8+1+16*w.n+4)
	b = append(b, producerStateVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(w.epoch))
	b = binary.BigEndian.AppendUint64(b, uint64(w.lastAt))
	b = append(b, byte(w.n))
	for _, s := range w.batches[:w.n] {
		b = binary.BigEndian.AppendUint32(b, uint32(s.first))
		b = binary.BigEndian.AppendUint32(b, uint32(s.last))
		b = binary.BigEndian.AppendUint64(b, uint64(s.base))
	}
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, b)
	return binary.BigEndian.AppendUint32(b, crc)
}

// decodeProducerWindow parses a stored window; the reason is non-empty
// when it is damaged.
func decodeProducerWindow(key, b []byte) (*producerWindow, string) {
	const fixed = 1 + 2 + 8 + 1 + 4
	if len(b) < fixed {
		return nil, fmt.Sprintf("%d bytes is too short", len(b))
	}
	if b[0] != producerStateVersion {
		return nil, fmt.Sprintf("unknown producer state version %d", b[0])
	}
	n := int(b[11])
	if n < 1 || n > producerWindowSize || len(b) != fixed+16*n {
		return nil, fmt.Sprintf("%d batches in %d bytes", n, len(b))
	}
	body := b[:len(b)-4]
	if crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, "CRC mismatch"
	}
	w := &producerWindow{
		epoch:  int16(binary.BigEndian.Uint16(b[1:])),
		lastAt: int64(binary.BigEndian.Uint64(b[3:])),
		n:      n,
	}
	for i := range n {
		s := b[12+16*i:]
		w.batches[i] = seqBatch{
			first: int32(binary.BigEndian.Uint32(s)),
			last:  int32(binary.BigEndian.Uint32(s[4:])),
			base:  int64(binary.BigEndian.Uint64(s[8:])),
		}
	}
	return w, ""
}

// loadProducers reads every stored producer window into its partition
// (recovery; partitions are recovered, the committer not yet started).
// Entries of unknown partitions, damaged ones, and ones naming offsets
// past their partition's end (which a commit never writes) are dropped
// with a warning.
func (l *Log) loadProducers(tx store.Tx) {
	l.loadTxnState(tx)
	b := tx.Bucket(bucketProducers)
	if b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) != i+1+4+8 {
			l.cfg.logger.Warn("damaged producer state dropped", "key", k, "reason", "malformed key")
			continue
		}
		topic := string(k[:i])
		part := int32(binary.BigEndian.Uint32(k[i+1:]))
		pid := int64(binary.BigEndian.Uint64(k[i+5:]))
		w, reason := decodeProducerWindow(k, v)
		var p *partition
		if t := l.topics[topic]; t != nil && part >= 0 && int(part) < len(t.parts) {
			p = t.parts[part]
		}
		switch {
		case reason != "":
		case p == nil:
			reason = "no such partition"
		case w.batches[w.n-1].base >= p.next:
			reason = fmt.Sprintf("batch at offset %d past the partition's end %d", w.batches[w.n-1].base, p.next)
		}
		if reason != "" {
			l.cfg.logger.Warn("damaged producer state dropped",
				"topic", topic, "partition", part, "producer", pid, "reason", reason)
			continue
		}
		if p.prod.windows == nil {
			p.prod.windows = make(map[int64]*producerWindow)
		}
		p.prod.windows[pid] = w
	}
}

// deleteProducers deletes the stored producer windows of topic (when the
// topic goes).
func deleteProducers(tx store.Tx, topic string) error {
	if err := deleteTxnState(tx, topic); err != nil {
		return err
	}
	return deleteTopicKeys(tx, bucketProducers, topic)
}

// producerExpiryEvery is how often the committer looks for idle
// producers: a 64th of the expiry, at least a second.
func (l *Log) producerExpiryEvery() time.Duration {
	return max(l.cfg.producerExpiry/64, time.Second)
}
