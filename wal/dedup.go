package wal

import (
	"sync"
	"time"
)

type position struct {
	part   int32
	offset int64
}

type dedupEntry struct {
	pos position
	at  int64 // unix nanos when first appended
}

// dedup remembers the message ids a topic saw within the window, at most
// max of them, in two generations of max/2: new ids go into cur; when cur
// is full it becomes prev and the old prev is dropped whole. Dropping a
// generation at once, instead of evicting id by id, keeps the maps free
// of the delete churn that made a FIFO of single evictions cost about a
// microsecond a record and four times the memory.
type dedup struct {
	mu         sync.Mutex // protects the fields below
	cur, prev  map[[16]byte]dedupEntry
	prevNewest int64 // newest append time in prev
	curNewest  int64 // newest append time in cur
}

// seenOrAdd reports where id was first appended if that was within
// window; otherwise it remembers id at pos. One critical section, so two
// appends of one id to different partitions cannot both miss.
func (d *dedup) seenOrAdd(id [16]byte, pos position, now int64, window time.Duration, limit int) (position, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.lookupLocked(id); ok && now-e.at <= window.Nanoseconds() {
		return e.pos, true
	}
	d.addLocked(id, pos, now, limit)
	return pos, false
}

// add remembers id without looking it up (recovery).
func (d *dedup) add(id [16]byte, pos position, now int64, limit int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(id, pos, now, limit)
}

func (d *dedup) lookupLocked(id [16]byte) (dedupEntry, bool) {
	if e, ok := d.cur[id]; ok {
		return e, true
	}
	e, ok := d.prev[id]
	return e, ok
}

func (d *dedup) addLocked(id [16]byte, pos position, now int64, limit int) {
	half := max(limit/2, 1)
	if d.cur == nil || len(d.cur) >= half {
		d.prev, d.prevNewest = d.cur, d.curNewest
		d.cur, d.curNewest = make(map[[16]byte]dedupEntry, min(half, 1<<16)), 0
	}
	d.cur[id] = dedupEntry{pos: pos, at: now}
	d.curNewest = max(d.curNewest, now)
}

// expire drops the older generation once all of it is past the window,
// and the newer one too when nothing was added within the window.
func (d *dedup) expire(now, window int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prev != nil && now-d.prevNewest > window {
		d.prev = nil
	}
	if d.cur != nil && now-d.curNewest > window {
		d.cur, d.prev = nil, nil
	}
}
