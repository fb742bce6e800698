package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
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
			continue
		case <-l.stop:
			err := l.commitRound()
			l.closeErr = errors.Join(err, l.syncStore())
			return
		}
		l.commitRound()
	}
}

// commitRound runs one group commit and resolves the generation that was
// current when it started.
func (l *Log) commitRound() error {
	l.genMu.Lock()
	g := l.gen
	l.gen = &commitGen{done: make(chan struct{})}
	l.genMu.Unlock()
	g.err = l.commit()
	if g.err != nil {
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
	segs       [][]byte // the tail as it was; its bytes never change
	base       int64    // offset of the first frame
	count      int64
	start      int64
	startDirty bool
	retention  Retention
	// results of the transaction
	newStart int64
	newBytes int64
}

func (l *Log) commit() error {
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
		if p.tail.bytes > 0 || p.startDirty {
			cuts = append(cuts, cut{
				p: p, segs: p.tail.snapshot(), base: p.stored, count: p.next - p.stored,
				start: p.start, startDirty: p.startDirty, newBytes: p.bytes,
				retention: p.retention,
			})
			p.startDirty = false
		}
		p.mu.Unlock()
	}
	if len(cuts) == 0 && state.empty() {
		l.stateCommitted(state)
		return nil
	}

	now := l.cfg.now()
	err := l.st.Update(func(tx store.Tx) error {
		for i := range cuts {
			if err := l.writeCut(tx, &cuts[i], now); err != nil {
				return err
			}
		}
		if err := l.writeAppendTimes(tx, cuts, now); err != nil {
			return err
		}
		return l.writeState(tx, state)
	})
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrCommit, err)
		for i := range cuts {
			c := &cuts[i]
			c.p.mu.Lock()
			if c.startDirty {
				c.p.startDirty = true
			}
			failed := c.p.takeWaitersLocked(c.base + c.count)
			c.p.mu.Unlock()
			for _, w := range failed {
				w.done(err)
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
		p.tail.dropPrefix(c.segs)
		p.stored += c.count
		if c.newStart > p.start {
			p.start = c.newStart
		}
		p.bytes = c.newBytes
		if l.cfg.policy == PolicySync {
			p.wakeLocked()
		}
		ready := p.takeWaitersLocked(p.stored)
		p.mu.Unlock()
		for _, w := range ready {
			w.done(nil)
		}
	}
	return nil
}

// writeCut stores a partition's queued frames as chunks with their index
// entries, then applies retention, all in tx.
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
	// they live in one arena allocated for this cut.
	arena := make([]byte, 0, 64*(1+int(c.count)/l.cfg.chunkRecords)+256)
	off := c.base
	for _, b := range c.segs {
		for len(b) > 0 {
			meta := chunkMeta{MinTs: 1<<63 - 1, MaxTs: -1 << 63}
			first := off
			size := 0
			var ids [][16]byte
			for size < len(b) && meta.Count < int64(l.cfg.chunkRecords) && (size == 0 || size < l.cfg.chunkBytes) {
				f, n, reason := parseFrameCRC(b[size:], false)
				if reason != "" {
					// The tail is written by Append alone; damage here is a bug
					// or memory corruption, not something to store.
					return &CorruptError{Topic: p.topic, Partition: p.id, Offset: off, Next: off, Reason: "queued frame: " + reason}
				}
				meta.Count++
				meta.MinTs = min(meta.MinTs, f.Timestamp)
				meta.MaxTs = max(meta.MaxTs, f.Timestamp)
				if f.CorrelationID != ([16]byte{}) {
					ids = append(ids, f.CorrelationID)
				}
				size += n
				off++
			}
			meta.Bytes = int64(size)
			if off <= c.start {
				// Retention already dropped every record of this chunk.
				b = b[size:]
				continue
			}
			meta.Bloom = make([]byte, bloomSize(int(meta.Count)))
			for i := range ids {
				bloomAdd(meta.Bloom, &ids[i])
			}
			ks := len(arena)
			arena = binary.BigEndian.AppendUint64(arena, uint64(first))
			key := arena[ks:len(arena):len(arena)]
			if err := putChunk(data, key, b[:size]); err != nil {
				return err
			}
			ms := len(arena)
			arena = meta.appendTo(arena)
			if err := index.Put(key, arena[ms:len(arena):len(arena)]); err != nil {
				return err
			}
			c.newBytes += meta.Bytes
			b = b[size:]
		}
	}
	return l.applyRetention(tx, c, data, index, now)
}

// putChunk stores a chunk. The tail's bytes are never written again, so a
// store that can keep a value without copying it (the memory store) may.
func putChunk(data store.Bucket, key, chunk []byte) error {
	if r, ok := data.(store.Retainer); ok {
		return r.PutRetained(key, chunk)
	}
	return data.Put(key, chunk)
}

// applyRetention deletes the oldest chunks that the partition's limits no
// longer allow and records the new start offset.
func (l *Log) applyRetention(tx store.Tx, c *cut, data, index store.Bucket, now time.Time) error {
	r := c.retention
	cur := index.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.First() {
		meta, ok := parseChunkMeta(v)
		if !ok {
			return &CorruptError{Topic: c.p.topic, Partition: c.p.id, Offset: keyOffset(k), Next: keyOffset(k) + 1, Reason: "index entry too short"}
		}
		first := keyOffset(k)
		last := first + meta.Count
		// Bytes and age never drop the newest chunk: the log keeps its end.
		notNewest := last < c.base+c.count
		drop := last <= c.newStart ||
			(r.MaxBytes > 0 && c.newBytes > r.MaxBytes && notNewest) ||
			(r.MaxAge > 0 && now.UnixNano()-meta.MaxTs > int64(r.MaxAge) && notNewest)
		if !drop {
			break
		}
		if err := data.Delete(k); err != nil {
			return err
		}
		if err := index.Delete(k); err != nil {
			return err
		}
		c.newBytes -= meta.Bytes
		c.newStart = max(c.newStart, last)
	}
	if c.newStart != c.start || c.startDirty {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(c.p.startK, binary.BigEndian.AppendUint64(nil, uint64(c.newStart))); err != nil {
			return err
		}
	}
	return nil
}
