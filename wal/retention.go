package wal

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/onexbus/onexbus/store"
)

// applyRetention deletes the oldest chunks that the partition's limits no
// longer allow and records the new start offset. Limits by bytes and age
// never drop the newest chunk, nor a chunk holding offsets at or above the
// partition's retention floor.
func (l *Log) applyRetention(tx store.Tx, c *cut, data, index store.Bucket, now time.Time) error {
	r := c.retention
	cur := index.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.First() {
		first := keyOffset(k)
		meta, reason := parseChunkMeta(k, v)
		if reason != "" {
			// Retention stops at damage rather than failing every commit
			// of the partition; reads report the chunk, Open repairs it.
			l.cfg.logger.Warn("retention stopped at a damaged index entry",
				"topic", c.p.topic, "partition", c.p.id, "chunk", first, "reason", reason)
			break
		}
		last := first + meta.Count
		// Bytes and age never drop the newest chunk: the log keeps its end.
		notNewest := last < c.base+c.count
		// The live floor too: a hold that returned after this round made
		// its floor (refreshFloors) holds the round (HoldRetentionOf's
		// "takes effect before it returns").
		held := last > min(c.floor, c.p.floor.Load())
		drop := last <= c.newStart ||
			(r.MaxBytes > 0 && c.newBytes > r.MaxBytes && notNewest && !held) ||
			(r.MaxAge > 0 && now.UnixNano()-meta.MaxTs > int64(r.MaxAge) && notNewest && !held)
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
		if err := meta.Put(c.p.startK, encodeStart(c.p.startK, c.newStart)); err != nil {
			return err
		}
	}
	return nil
}

// HoldRetention makes retention keep every record of every partition that
// group has not consumed yet: MaxMessages, MaxBytes and MaxAge never move
// a partition's start past group's committed cursor there, and a
// partition where group has no cursor keeps everything. It is how a
// forwarder (transport/kafka) makes sure no record is dropped before it is
// sent: while it lags, partitions grow past their limits, so pair it with
// a backlog budget. DeleteRecords is not held back: it is an explicit
// operator action.
//
// The hold takes effect before HoldRetention returns, for the partitions
// that exist and for those created later. release ends it and is
// idempotent; holds of the same group nest.
func (l *Log) HoldRetention(group string) (release func(), err error) {
	return l.HoldRetentionOf(group, nil)
}

// HoldRetentionOf is HoldRetention for the topics match accepts (nil:
// every topic), for a reader of some topics only (a forwarder with a
// topic pattern). match is called without the log's locks held, from the
// committer and from HoldRetentionOf, and must not call the Log.
func (l *Log) HoldRetentionOf(group string, match func(topic string) bool) (release func(), err error) {
	if err := validGroup(group); err != nil {
		return nil, err
	}
	if l.closed.Load() {
		return nil, ErrClosed
	}
	h := &retentionHold{group: group, match: match}
	l.holdMu.Lock()
	l.holds = append(l.holds, h)
	l.nholds.Store(int32(len(l.holds)))
	l.holdMu.Unlock()
	l.mu.RLock()
	parts := l.parts
	l.mu.RUnlock()
	for _, p := range parts {
		l.refreshFloor(p)
	}
	var once bool
	var onceMu = &l.holdMu
	return func() {
		onceMu.Lock()
		defer onceMu.Unlock()
		if once {
			return
		}
		once = true
		l.holds = slices.DeleteFunc(l.holds, func(x *retentionHold) bool { return x == h })
		l.nholds.Store(int32(len(l.holds)))
		// Floors only ever lag: the next commit of each partition raises
		// them (refreshFloors).
	}, nil
}

// retentionHold is one HoldRetentionOf in force.
type retentionHold struct {
	group string
	match func(topic string) bool // nil: every topic
}

// holding reports whether any hold is in force, without holdMu (callers
// hold Log.mu).
func (l *Log) holding() bool { return l.nholds.Load() > 0 }

// heldGroups returns the groups holding retention of topic, and the
// number of this look at the holds (Log.holdsSeq): a later look sees
// every hold an earlier one saw or a later hold. The holds' match
// functions run without holdMu.
func (l *Log) heldGroups(topic string) ([]string, uint64) {
	l.holdMu.Lock()
	holds := slices.Clone(l.holds)
	l.holdsSeq++
	seq := l.holdsSeq
	l.holdMu.Unlock()
	var gs []string
	for _, h := range holds {
		if (h.match == nil || h.match(topic)) && !slices.Contains(gs, h.group) {
			gs = append(gs, h.group)
		}
	}
	return gs, seq
}

// refreshFloors recomputes the retention floor of each cut's partition
// before its retention runs. It takes curMu (through Cursor) and the
// partition lock, never both at once.
func (l *Log) refreshFloors(cuts []cut) {
	for i := range cuts {
		cuts[i].floor = l.refreshFloor(cuts[i].p)
	}
}

// refreshFloor computes and stores p's retention floor, and returns the
// floor in force. A floor computed from an older look at the holds is
// not stored over one from a newer look: the committer lists the holds,
// HoldRetentionOf adds one and stores the floor it gives, and the
// committer's floor, made without that hold, must not then replace it
// (count retention would drop what the new group has not consumed).
func (l *Log) refreshFloor(p *partition) int64 {
	groups, seq := l.heldGroups(p.topic)
	floor := int64(math.MaxInt64)
	if len(groups) > 0 {
		p.mu.Lock()
		start := p.start
		p.mu.Unlock()
		for _, g := range groups {
			off, ok, err := l.Cursor(g, p.topic, p.id)
			if err != nil || !ok {
				off = start
			}
			floor = min(floor, off)
		}
	}
	p.floorMu.Lock()
	if seq > p.floorSeq {
		p.floorSeq = seq
		p.floor.Store(floor)
	}
	floor = p.floor.Load()
	p.floorMu.Unlock()
	return floor
}

// DeleteRecords removes the records of a partition below offset before,
// as Kafka's DeleteRecords: the partition's start moves to before and the
// chunks wholly below it are deleted. before = -1 means the visible end
// (delete everything). An offset at or below the start changes nothing.
// It returns the new start (Kafka's low watermark) once the change is
// durable by the log's policy.
//
// It returns ErrUnknownTopic, ErrInvalidPartition, ErrClosed, an error
// wrapping ErrOffsetOutOfRange for an offset past the visible end, or the
// commit's error.
func (l *Log) DeleteRecords(ctx context.Context, topic string, part int32, before int64) (int64, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	_, p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	end := l.visibleLocked(p)
	if before == -1 {
		before = end
	}
	if before < 0 || before > end {
		p.mu.Unlock()
		return 0, fmt.Errorf("wal: delete records of %s/%d below %d: %w (start %d, end %d)",
			topic, part, before, ErrOffsetOutOfRange, p.start, end)
	}
	if before > p.start {
		p.start = before
		p.startDirty = true
	}
	start := p.start
	p.mu.Unlock()
	if err := l.syncCommit(ctx); err != nil {
		return 0, fmt.Errorf("wal: delete records of %s/%d below %d: %w", topic, part, before, err)
	}
	return start, nil
}

// syncCommit waits for a commit that starts after the call, and under
// PolicyInterval for the store's sync: whatever the caller changed before
// is then durable by the log's policy. Under PolicyNone it only commits.
func (l *Log) syncCommit(ctx context.Context) error {
	l.genMu.Lock()
	g := l.gen
	l.genMu.Unlock()
	l.kickCommitter()
	select {
	case <-g.done:
		if g.err != nil {
			return g.err
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return ErrClosed
	}
	return l.syncStore()
}
