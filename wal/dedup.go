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

type dedupItem struct {
	id [16]byte
	at int64
}

// dedup remembers the message ids of a topic appended within the window,
// oldest first in order so that expiry is a pop from the front.
type dedup struct {
	mu    sync.Mutex // protects the fields below
	ids   map[[16]byte]dedupEntry
	order []dedupItem // FIFO from head
	head  int
}

// seenOrAdd reports where id was first appended if that was within
// window; otherwise it remembers id at pos. One critical section, so two
// appends of one id to different partitions cannot both miss.
func (d *dedup) seenOrAdd(id [16]byte, pos position, now int64, window time.Duration, max int) (position, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ids[id]; ok && now-e.at <= window.Nanoseconds() {
		return e.pos, true
	}
	d.addLocked(id, pos, now, max)
	return pos, false
}

// add remembers id, evicting ids past the window or beyond max entries.
func (d *dedup) add(id [16]byte, pos position, now int64, max int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(id, pos, now, max)
}

func (d *dedup) addLocked(id [16]byte, pos position, now int64, max int) {
	if d.ids == nil {
		d.ids = make(map[[16]byte]dedupEntry)
	}
	d.ids[id] = dedupEntry{pos: pos, at: now}
	d.order = append(d.order, dedupItem{id: id, at: now})
	for len(d.order)-d.head > max {
		d.evictOldestLocked()
	}
}

// expire drops ids older than the window.
func (d *dedup) expire(now, window int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.head < len(d.order) && now-d.order[d.head].at > window {
		d.evictOldestLocked()
	}
}

func (d *dedup) evictOldestLocked() {
	it := d.order[d.head]
	if e, ok := d.ids[it.id]; ok && e.at == it.at {
		delete(d.ids, it.id)
	}
	d.order[d.head] = dedupItem{}
	d.head++
	if d.head > 1024 && d.head*2 > len(d.order) {
		n := copy(d.order, d.order[d.head:])
		d.order = d.order[:n]
		d.head = 0
	}
}
