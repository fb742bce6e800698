package wal

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/onexbus/onexbus/store"
)

// Time and correlation lookups walk a partition's index (one entry per
// chunk: its offset span, smallest and largest timestamp, bloom filter of
// correlation ids), then read only the chunks that may match. Timestamps
// need not grow with offsets: a chunk is skipped only when its whole
// [MinTs, MaxTs] misses, and no query stops at the first chunk past its
// bound.

// OffsetForTime returns the first offset of a partition whose record
// timestamp is at or after ts (Unix nanoseconds), or the visible end if
// there is none, like Kafka's list-offsets by timestamp. The first chunk
// whose largest timestamp reaches ts holds it; records inside are walked.
func (l *Log) OffsetForTime(ctx context.Context, topic string, part int32, ts int64) (int64, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	start, stored, visible := p.start, p.stored, l.visibleLocked(p)
	p.mu.Unlock()
	from := stored
	err = l.walkIndex(p, func(first int64, meta chunkMeta, ok bool) bool {
		if first+meta.Count <= start && ok {
			return true
		}
		if !ok || meta.MaxTs >= ts {
			from = max(first, start)
			return false
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("wal: offset for time in %s/%d: %w", topic, part, err)
	}
	found := visible
	if from >= visible {
		return found, nil
	}
	_, err = l.Read(ctx, topic, part, from, int(min(visible-from, math.MaxInt32)), func(e *Entry) error {
		if e.Timestamp >= ts {
			found = e.Offset
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return 0, err
	}
	return found, nil
}

// ReadTime calls fn with every visible record of a partition whose
// timestamp is in [since, until) (Unix nanoseconds), in offset order,
// whatever the order of timestamps across offsets. Chunks whose time range
// misses are skipped by their index entries. fn must not call the Log; an
// error from fn stops the read and is returned.
func (l *Log) ReadTime(ctx context.Context, topic string, part int32, since, until int64, fn func(*Entry) error) error {
	if since >= until {
		return nil
	}
	return l.readMatching(ctx, topic, part,
		func(meta chunkMeta) bool { return meta.MaxTs >= since && meta.MinTs < until },
		func(e *Entry) bool { return e.Timestamp >= since && e.Timestamp < until },
		fn)
}

// ReadCorrelation calls fn with every visible record of a partition whose
// CorrelationID is id, in offset order. Chunks are skipped by their bloom
// filters, so the cost grows with the number of chunks, not records.
// (Kafka chunks keep no filter: every one is read.)
func (l *Log) ReadCorrelation(ctx context.Context, topic string, part int32, id [16]byte, fn func(*Entry) error) error {
	return l.readMatching(ctx, topic, part,
		func(meta chunkMeta) bool { return bloomMayContain(meta.Bloom, &id) },
		func(e *Entry) bool { return e.CorrelationID == id },
		fn)
}

// readMatching reads the records of the chunks whose index entry may
// match (damaged entries always may) and of the queued tail, passing those
// that match to fn in offset order.
func (l *Log) readMatching(ctx context.Context, topic string, part int32, mayMatch func(chunkMeta) bool, match func(*Entry) bool, fn func(*Entry) error) error {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	p.mu.Lock()
	start, stored, visible := p.start, p.stored, l.visibleLocked(p)
	p.mu.Unlock()
	var ranges [][2]int64
	add := func(lo, hi int64) {
		lo = max(lo, start)
		hi = min(hi, visible)
		if lo >= hi {
			return
		}
		if n := len(ranges); n > 0 && ranges[n-1][1] >= lo {
			ranges[n-1][1] = max(ranges[n-1][1], hi)
			return
		}
		ranges = append(ranges, [2]int64{lo, hi})
	}
	err = l.walkIndex(p, func(first int64, meta chunkMeta, ok bool) bool {
		if !ok {
			// The span is unknown: read on to the next entry's key, which
			// the read reports as damage or reads past.
			add(first, first+1)
			return true
		}
		if first+meta.Count > start && mayMatch(meta) {
			add(first, first+meta.Count)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("wal: query of %s/%d: %w", topic, part, err)
	}
	add(stored, visible)
	next := int64(0)
	keep := func(e *Entry) error {
		if e.Offset < next {
			return nil
		}
		next = e.Offset + 1
		if match(e) {
			return fn(e)
		}
		return nil
	}
	for _, r := range ranges {
		if _, err := l.Read(ctx, topic, part, r[0], int(min(r[1]-r[0], math.MaxInt32)), keep); err != nil {
			return err
		}
	}
	return nil
}

// MaxTimestamp returns the largest record timestamp of a partition's
// visible records (Unix nanoseconds, see Entry.Timestamp) and the first
// offset that carries it, as Kafka's list-offsets for MAX_TIMESTAMP. An
// empty partition returns -1, -1.
func (l *Log) MaxTimestamp(ctx context.Context, topic string, part int32) (ts int64, off int64, err error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	start, stored, visible := p.start, p.stored, l.visibleLocked(p)
	p.mu.Unlock()
	if start >= visible {
		return -1, -1, nil
	}
	// The best chunk by its index entry, skipping the one that holds
	// start (records below start may carry its maximum): that one and the
	// tail are read record by record.
	best, bestFirst, bestEnd := int64(math.MinInt64), int64(-1), int64(-1)
	var exact [][2]int64
	err = l.walkIndex(p, func(first int64, meta chunkMeta, ok bool) bool {
		switch {
		case !ok || first < start:
			if first+meta.Count > start || !ok {
				exact = append(exact, [2]int64{max(first, start), first + max(meta.Count, 1)})
			}
		case meta.MaxTs > best:
			best, bestFirst, bestEnd = meta.MaxTs, first, first+meta.Count
		}
		return true
	})
	if err != nil {
		return 0, 0, fmt.Errorf("wal: max timestamp of %s/%d: %w", topic, part, err)
	}
	if bestFirst >= 0 {
		exact = append(exact, [2]int64{bestFirst, bestEnd})
	}
	exact = append(exact, [2]int64{stored, visible})
	ts, off = math.MinInt64, -1
	for _, r := range exact {
		lo, hi := max(r[0], start), min(r[1], visible)
		if lo >= hi {
			continue
		}
		_, err := l.Read(ctx, topic, part, lo, int(min(hi-lo, math.MaxInt32)), func(e *Entry) error {
			if e.Timestamp > ts || (e.Timestamp == ts && e.Offset < off) {
				ts, off = e.Timestamp, e.Offset
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	if off < 0 {
		return -1, -1, nil
	}
	return ts, off, nil
}

// walkIndex calls fn with each index entry of p, oldest chunk first, until
// fn returns false; ok is false for an entry that is damaged (whose meta is
// then zero). Bloom slices alias the store: fn must not keep them.
func (l *Log) walkIndex(p *partition, fn func(first int64, meta chunkMeta, ok bool) bool) error {
	return l.st.View(func(tx store.Tx) error {
		index := tx.Bucket(p.index)
		if index == nil {
			return nil
		}
		c := index.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			meta, reason := parseChunkMeta(k, v)
			if !fn(keyOffset(k), meta, reason == "") {
				return nil
			}
		}
		return nil
	})
}
