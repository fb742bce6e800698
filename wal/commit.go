package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/onexbus/onexbus/store"
)

// commitLoop is the only writer of records to the store. Appenders queue
// frames in their partition's tail and kick it; each round takes every
// tail, writes them in one store transaction (one fsync for however many
// appenders are waiting: group commit) and then wakes the waiters.
func (l *Log) commitLoop() {
	defer close(l.done)
	ticker := time.NewTicker(l.cfg.interval)
	defer ticker.Stop()
	for {
		select {
		case <-l.kick:
		case <-ticker.C:
			// Commit, then sync what was committed: at most one interval
			// is ever unsynced.
			l.commitRound()
			if err := l.syncStore(); err != nil {
				l.cfg.logger.Error("sync of the store failed", "error", err)
			}
			l.expireDedup()
			l.expireProducers()
			l.releaseIdleTails()
			continue
		case <-l.stop:
			err := l.commitRound()
			l.closeErr = errors.Join(err, l.syncStore())
			return
		}
		l.co.wait(l.stop)
		l.commitRound()
	}
}

// commitRound runs one group commit and resolves the generation that was
// current when it started.
func (l *Log) commitRound() error {
	// Kicks sent so far are answered by this round: whoever kicked
	// queued (or read the generation) before this point, so the snapshot
	// below includes it. Without the drain a kick sent during a
	// coalescing wait would start a second, empty round.
	select {
	case <-l.kick:
	default:
	}
	l.genMu.Lock()
	g := l.gen
	l.gen = &commitGen{done: make(chan struct{})}
	l.genMu.Unlock()
	g.err = l.commit()
	switch {
	case g.err == nil:
	case errors.Is(g.err, store.ErrCommitFailed):
		// Every later commit fails the same way until the store is
		// reopened: say so once, with what to do.
		if err := g.err; l.storeStopped.CompareAndSwap(nil, &err) {
			l.cfg.logger.Error("the store stopped writes after a failed commit; nothing more is stored until the process restarts and reopens it", "error", g.err)
		}
	default:
		// The records stay queued; the next kick or tick retries.
		l.cfg.logger.Error("commit failed; records stay queued", "error", g.err)
	}
	close(g.done)
	return g.err
}

func (l *Log) syncStore() error {
	if l.cfg.policy != PolicyInterval {
		return nil
	}
	if s, ok := l.st.(store.Syncer); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("wal: sync store: %w", err)
		}
	}
	return nil
}

// releaseIdleTails lets the tail buffers of partitions that took no
// append for a whole interval go (10,000 idle topics hold none).
func (l *Log) releaseIdleTails() {
	l.mu.RLock()
	parts := l.parts
	l.mu.RUnlock()
	for _, p := range parts {
		p.mu.Lock()
		p.tail.releaseIdle()
		p.mu.Unlock()
	}
}

func (l *Log) expireDedup() {
	if l.cfg.dedupWindow <= 0 {
		return
	}
	now := l.cfg.now().UnixNano()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, t := range l.topics {
		t.dedup.expire(now, int64(l.cfg.dedupWindow))
	}
}

// cut is what one commit takes of a partition.
type cut struct {
	p          *partition
	chunks     []tailChunk // the tail as it was; its bytes never change but for the frames' CRCs (sealFrames)
	base       int64       // offset of the first record
	count      int64
	start      int64
	startDirty bool
	retention  Retention
	floor      int64 // retention keeps offsets from here on (HoldRetention)
	evicted    int64 // records retention dropped by count before this commit
	// results of the transaction
	newStart  int64
	newBytes  int64
	newNewest int64 // the partition's newest chunk after it (-1: unchanged)
}

func (l *Log) commit() error {
	// roundMu keeps a multi-partition write whole within one round. It
	// is taken before the list of partitions is read, so that a writer
	// holding it cannot queue into a partition created after the list.
	l.roundMu.Lock()
	l.mu.RLock()
	parts := l.parts
	l.mu.RUnlock()

	// Cursors first: a cursor taken now only covers records appended
	// before now, which the partition snapshots below include. The other
	// order could store a cursor ahead of the stored records.
	state := l.takeState()

	var cuts []cut
	for _, p := range parts {
		p.mu.Lock()
		if p.tail.bytes > 0 || p.startDirty || p.prod.dirtyLocked() {
			// Producer windows are taken with the batches they describe.
			p.snapshotProducersLocked()
			cuts = append(cuts, cut{
				p: p, chunks: p.tail.take(), base: p.stored, count: p.next - p.stored,
				start: p.start, startDirty: p.startDirty, newBytes: p.bytes,
				retention: p.retention, evicted: p.evicting, newNewest: -1,
			})
			p.startDirty = false
			p.evicting = 0
		}
		p.mu.Unlock()
	}
	l.roundMu.Unlock()
	l.co.take()
	if len(cuts) == 0 && state.empty() {
		l.stateCommitted(state)
		l.answerLate()
		return nil
	}
	l.refreshFloors(cuts)
	// The tail's frames carry no CRC yet (appendUnsealedFrame): write it
	// now, before anything copies or stores them.
	for i := range cuts {
		if cuts[i].p.format == FormatFrames {
			for j := range cuts[i].chunks {
				sealFrames(cuts[i].chunks[j].b[framesHeader:])
			}
		}
		// A busy tail's next backing array (tail.spare), allocated now
		// rather than after the transaction: a commit on a disk takes
		// milliseconds, in which an appender fills most of an array and
		// would allocate the spare itself (partition.fillTailSpare).
		cuts[i].p.fillTailSpare(false)
	}

	now := l.cfg.now()
	began := time.Now()
	err := l.st.Update(func(tx store.Tx) error {
		for i := range cuts {
			if err := l.writeCut(tx, &cuts[i], now); err != nil {
				return err
			}
			if err := writeProducers(tx, cuts[i].p); err != nil {
				return err
			}
		}
		if err := l.writeAppendTimes(tx, cuts, now); err != nil {
			return err
		}
		return l.writeState(tx, state)
	})
	l.releaseExtendBuf()
	took := time.Since(began) // now, not when the deferred call runs
	l.co.committed(took)
	defer l.observeCommit(cuts, took, err)
	for i := range cuts {
		cuts[i].p.producersCommitted(err == nil)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrCommit, err)
		for i := range cuts {
			c := &cuts[i]
			c.p.mu.Lock()
			if c.startDirty {
				c.p.startDirty = true
			}
			c.p.evicting += c.evicted
			failed := c.p.takeWaitersLocked(c.base + c.count)
			c.p.mu.Unlock()
			for _, w := range failed {
				w.done.AppendDone(err)
			}
		}
		l.restoreState(state)
		return err
	}
	l.stateCommitted(state)
	for i := range cuts {
		c := &cuts[i]
		p := c.p
		p.mu.Lock()
		p.tail.dropPrefix(c.chunks)
		p.stored += c.count
		if c.newStart > p.start {
			p.start = c.newStart
		}
		p.bytes = c.newBytes
		if c.newNewest >= 0 {
			p.newest = c.newNewest
		}
		var watchers []*watcher
		if l.cfg.policy == PolicySync {
			p.wakeLocked()
			watchers = p.takeWatchersLocked(p.stored, false)
		}
		ready := p.takeWaitersLocked(p.stored)
		p.mu.Unlock()
		for _, w := range ready {
			w.done.AppendDone(nil)
		}
		fireAll(watchers)
		// The tail's next backing array, allocated here rather than by
		// an appender (tail.spare).
		p.fillTailSpare(false)
	}
	l.answerLate()
	return nil
}

// writeCut stores a partition's queued chunks with their index entries
// (the first may extend the newest stored chunk, see extend.go), then
// applies retention, all in tx.
func (l *Log) writeCut(tx store.Tx, c *cut, now time.Time) error {
	p := c.p
	data, err := tx.CreateBucket(p.data)
	if err != nil {
		return err
	}
	index, err := tx.CreateBucket(p.index)
	if err != nil {
		return err
	}
	c.newStart = c.start
	// Keys and index values must stay valid until the transaction ends:
	// they live in one arena allocated for this cut, never reallocated.
	need := 0
	for i := range c.chunks {
		need += 8 + chunkMetaFixed + chunkMetaCRC + bloomSize(c.chunks[i].n)
	}
	arena := make([]byte, 0, need)
	// The tail cuts chunks by its buffers too, so any queued chunk may
	// continue the newest one, stored or written just before it.
	newest := p.newest
	defer func() { c.newNewest = newest }()
	for i := range c.chunks {
		ch := &c.chunks[i]
		if ch.first+ch.count <= c.start {
			continue // retention already dropped every record of this chunk
		}
		extended, err := l.extendNewest(data, index, c, ch, newest, now)
		if err != nil {
			return err
		}
		if extended {
			continue
		}
		newest = ch.first
		meta, err := chunkMetaOf(p, ch)
		if err != nil {
			return err
		}
		ks := len(arena)
		arena = binary.BigEndian.AppendUint64(arena, uint64(ch.first))
		key := arena[ks:len(arena):len(arena)]
		if err := putChunk(data, key, ch.b); err != nil {
			return err
		}
		ms := len(arena)
		arena = meta.appendTo(arena, key)
		if err := index.Put(key, arena[ms:len(arena):len(arena)]); err != nil {
			return err
		}
		c.newBytes += meta.Bytes
	}
	return l.applyRetention(tx, c, data, index, now)
}

// chunkMetaOf computes the index entry of a queued chunk. The tail is
// written by the log alone, so its frames' CRCs are not re-checked here;
// damage found anyway is a bug or memory corruption, not something to
// store.
func chunkMetaOf(p *partition, ch *tailChunk) (chunkMeta, error) {
	meta := chunkMeta{Count: ch.count, Bytes: int64(len(ch.b)), MinTs: math.MaxInt64, MaxTs: math.MinInt64}
	if ch.count > math.MaxUint32 {
		return meta, &CorruptError{Topic: p.topic, Partition: p.id, Offset: ch.first, Next: ch.first, Reason: "queued chunk spans more than 2^32 offsets"}
	}
	if p.format == FormatKafka {
		reason := kafkaChunkTimes(ch.b[kafkaHeader:], &meta)
		if reason != "" {
			return meta, &CorruptError{Topic: p.topic, Partition: p.id, Offset: ch.first, Next: ch.first, Reason: "queued batch: " + reason}
		}
		return meta, nil
	}
	meta.Bloom = make([]byte, bloomSize(ch.n))
	b := ch.b[framesHeader:]
	off := ch.first
	for len(b) > 0 {
		f, n, reason := parseFrameCRC(b, false)
		if reason != "" {
			return meta, &CorruptError{Topic: p.topic, Partition: p.id, Offset: off, Next: off, Reason: "queued frame: " + reason}
		}
		meta.MinTs = min(meta.MinTs, f.Timestamp)
		meta.MaxTs = max(meta.MaxTs, f.Timestamp)
		if f.CorrelationID != ([16]byte{}) {
			bloomAdd(meta.Bloom, &f.CorrelationID)
		}
		b = b[n:]
		off++
	}
	return meta, nil
}

// putChunk stores a chunk. The tail's bytes are never written again, so a
// store that can keep a value without copying it (the memory store) may.
func putChunk(data store.Bucket, key, chunk []byte) error {
	if r, ok := data.(store.Retainer); ok {
		return r.PutRetained(key, chunk)
	}
	return data.Put(key, chunk)
}

// answerLate calls the callbacks of records stored by earlier rounds
// that registered after those rounds answered: whenStored leaves them to
// the committer, so that they keep their order.
func (l *Log) answerLate() {
	l.lateMu.Lock()
	parts := l.late
	l.late = nil
	l.lateMu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		ready := p.takeWaitersLocked(p.stored)
		p.mu.Unlock()
		for _, w := range ready {
			w.done.AppendDone(nil)
		}
	}
}
