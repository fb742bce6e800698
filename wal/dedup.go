package wal

import (
	"bytes"
	"encoding/binary"
	"sort"
	"sync"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Message-id dedup.
//
// Live, each topic remembers the ids appended within the window with
// their append time (dedup below). After a restart the window must be
// measured the same way, on append time, never on the records' own
// timestamps: a Kafka ingest backlog or a replay carries old timestamps
// on records appended just now, and measuring on them forgot those ids
// at once (issue 9: 200 ten-minute-old records re-ingested after a crash
// were stored twice). So every commit also stores, per partition, marks
// of when its records were committed (bucket appendtimes, below), and
// recovery rebuilds the window from them.
//
// # Memory
//
// The ids live in two generations that grow with the ids actually seen
// (no pre-sizing), at most WithDedup's maxIDs per topic. An id that was
// looked up, or that the topic looked ids up after, sits in a map: about
// 65 B of heap (16 B key, 24 B entry, the map's slack). An id generated
// by the bus (Record.FreshID) is only appended to a list of 40 B entries
// and enters the map when the topic next looks an id up; a topic whose
// publishers never set their own message_id never builds the map. A
// topic that saw no ids costs nothing for dedup. A topic with one record
// costs about 6 KiB in all (its partition and names, a 4 KiB tail
// segment, a one-entry list): 10,000 such topics take about 56 MiB
// (TestTopicHeapGrowsWithUse, BenchmarkTopicsHeap). A topic at the limit
// of 100,000 ids takes about 4-6.5 MiB more.

type position struct {
	part   int32
	offset int64
}

type dedupEntry struct {
	pos position
	at  int64 // unix nanos when first appended
}

// pendingID is an id remembered without a lookup and not in its
// generation's map yet.
type pendingID struct {
	id [16]byte
	dedupEntry
}

// idGeneration is one generation of remembered ids: those in ids, and
// those in pending, in the order they were added, that join ids (later
// entries replacing earlier ones, as a map insert does) before the next
// lookup. Appending to a list is what makes remembering an id the bus
// generated cheap: a map insert into a map larger than the caches costs
// a cache miss and, while it grows, rehashing.
type idGeneration struct {
	ids     map[[16]byte]dedupEntry
	pending pendingList
	newest  int64 // newest append time in the generation
}

func (g *idGeneration) len() int { return len(g.ids) + g.pending.n }

// index moves the pending ids into the map.
func (g *idGeneration) index() {
	if g.pending.n == 0 {
		return
	}
	if g.ids == nil {
		g.ids = make(map[[16]byte]dedupEntry, g.pending.n)
	}
	for _, seg := range g.pending.segs {
		for i := range seg {
			g.ids[seg[i].id] = seg[i].dedupEntry
		}
	}
	g.pending.reset()
}

// pendingSegment is the most ids one segment of a pendingList holds
// (40 KiB).
const pendingSegment = 1024

// pendingList is the ids of a generation not in its map yet, in the order
// they were added, in segments of at most pendingSegment. One slice grown
// by append copied the whole list at each growth, and left the old
// arrays as garbage: about 1.25 times the list copied and 4 times
// allocated per generation of 50,000 ids (the default), 75 ns a publish
// on the memory bus, most of it touching fresh memory. A segment, once
// allocated, is never copied; only the first grows by append (so a topic
// with one id costs a one-entry list), the others are allocated full.
type pendingList struct {
	segs [][]pendingID // every segment but the last is full
	n    int           // ids in all segments
	// spare is the segments of an earlier generation, emptied, for reuse:
	// a busy topic fills its lists again.
	spare [][]pendingID
}

func (l *pendingList) add(p pendingID) {
	k := len(l.segs) - 1
	if k < 0 || len(l.segs[k]) == pendingSegment {
		var seg []pendingID
		if j := len(l.spare) - 1; j >= 0 {
			seg, l.spare = l.spare[j][:0], l.spare[:j]
		} else if k >= 0 {
			seg = make([]pendingID, 0, pendingSegment)
		}
		l.segs = append(l.segs, seg)
		k++
	}
	l.segs[k] = append(l.segs[k], p)
	l.n++
}

// reset empties l, keeping its segments for reuse.
func (l *pendingList) reset() {
	for _, seg := range l.segs {
		clear(seg)
		l.spare = append(l.spare, seg[:0])
	}
	clear(l.segs)
	l.segs, l.n = l.segs[:0], 0
}

// dedup remembers the message ids a topic saw within the window, at most
// max of them, in two generations of max/2: new ids go into cur; when cur
// is full it becomes prev and the old prev is dropped whole. Dropping a
// generation at once, instead of evicting id by id, keeps the maps free
// of the delete churn that made a FIFO of single evictions cost about a
// microsecond a record and four times the memory. The generations start
// empty and grow with use.
type dedup struct {
	mu        sync.Mutex // protects the fields below
	cur, prev idGeneration
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

// add remembers id without looking it up: an id generated just now
// (Record.FreshID), or one recovery found. It goes to the pending list.
func (d *dedup) add(id [16]byte, pos position, now int64, limit int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.rotateLocked(limit)
	g.pending.add(pendingID{id: id, dedupEntry: dedupEntry{pos: pos, at: now}})
	g.newest = max(g.newest, now)
}

func (d *dedup) lookupLocked(id [16]byte) (dedupEntry, bool) {
	d.cur.index()
	if e, ok := d.cur.ids[id]; ok {
		return e, true
	}
	d.prev.index()
	e, ok := d.prev.ids[id]
	return e, ok
}

// addLocked remembers id in the map of the current generation; the
// caller just looked it up, so the pending ids are in the maps already.
func (d *dedup) addLocked(id [16]byte, pos position, now int64, limit int) {
	g := d.rotateLocked(limit)
	g.index()
	if g.ids == nil {
		// No size hint: a hint of the generation's size cost every topic
		// about 3 MB on its first id (issue 9).
		g.ids = make(map[[16]byte]dedupEntry)
	}
	g.ids[id] = dedupEntry{pos: pos, at: now}
	g.newest = max(g.newest, now)
}

// rotateLocked returns the current generation, first making it the
// previous one (dropping that) when it holds half the limit. The dropped
// generation's list is reused: a busy topic fills its lists again.
func (d *dedup) rotateLocked(limit int) *idGeneration {
	if half := max(limit/2, 1); d.cur.len() >= half {
		reuse := d.prev.pending
		reuse.reset()
		d.prev, d.cur = d.cur, idGeneration{pending: reuse}
	}
	return &d.cur
}

// expire drops the older generation once all of it is past the window,
// and the newer one too when nothing was added within the window.
func (d *dedup) expire(now, window int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prev.len() > 0 && now-d.prev.newest > window {
		d.prev = idGeneration{}
	}
	if d.cur.len() > 0 && now-d.cur.newest > window {
		d.cur, d.prev = idGeneration{}, idGeneration{}
	}
}

// Append-time marks.
//
// Bucket appendtimes holds, per partition, keys <topic> 0x00 <part u32>
// <offset u64> whose value (unix nanos, u64) is the time of the newest
// commit that stored records from that offset up to the next mark's: an
// upper bound of those records' append times, late by at most one group
// commit. A commit either moves the partition's newest mark forward in
// time (one Put on a key it just wrote) or, once that mark is older than
// the mark resolution, starts a new one at its first offset and deletes
// the marks that are past the window. A partition so holds about
// window/resolution + 1 marks (9 with the defaults).
//
// Records below a partition's first mark are past the window. A
// partition with data but no marks at all (its marks were damaged or
// deleted) has its window measured on record timestamps, the best guess
// left, until its next commit.

var bucketAppendTimes = []byte("appendtimes")

// appendMark is a partition's newest mark as the committer knows it.
type appendMark struct {
	off   int64 // first offset it covers; -1: none yet
	since int64 // when the key was started (unix nanos)
	at    int64 // its value: the newest commit it covers
}

// noMark is a partition's mark before its first commit or recovery.
var noMark = appendMark{off: -1}

func appendTimesPrefix(topic string, part int32) []byte {
	b := make([]byte, 0, len(topic)+1+4+8)
	b = append(b, topic...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(part))
}

// markResolution is how long one mark may cover: an eighth of the
// window, at least a second, so a commit per millisecond still starts at
// most one key per second per partition.
func (l *Log) markResolution() int64 {
	return max(int64(l.cfg.dedupWindow)/8, int64(time.Second))
}

// writeAppendTimes records, in the commit's transaction tx, that the
// records of cuts were committed at now. It runs on the committer, which
// alone owns partition.mark. If tx later fails, the marks it changed in
// memory still hold: the retry stores the same offsets later, which only
// moves a mark's value forward.
func (l *Log) writeAppendTimes(tx store.Tx, cuts []cut, now time.Time) error {
	var b store.Bucket
	ns := now.UnixNano()
	for i := range cuts {
		c := &cuts[i]
		if c.count == 0 {
			continue
		}
		if b == nil {
			var err error
			if b, err = tx.CreateBucket(bucketAppendTimes); err != nil {
				return err
			}
		}
		p := c.p
		prefix := appendTimesPrefix(p.topic, p.id)
		m := &p.mark
		if m.off >= 0 && m.off <= c.base && ns-m.since < l.markResolution() {
			m.at = max(m.at, ns)
			if err := b.Put(binary.BigEndian.AppendUint64(prefix, uint64(m.off)), binary.BigEndian.AppendUint64(nil, uint64(m.at))); err != nil {
				return err
			}
			continue
		}
		*m = appendMark{off: c.base, since: ns, at: ns}
		if err := b.Put(binary.BigEndian.AppendUint64(prefix, uint64(c.base)), binary.BigEndian.AppendUint64(nil, uint64(ns))); err != nil {
			return err
		}
		if err := pruneAppendTimes(b, prefix, c.base, ns-int64(l.cfg.dedupWindow)-l.markResolution()); err != nil {
			return err
		}
	}
	return nil
}

// pruneAppendTimes deletes the marks of a partition below offset before
// whose time is older than horizon.
func pruneAppendTimes(b store.Bucket, prefix []byte, before, horizon int64) error {
	var stale [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
		if int64(binary.BigEndian.Uint64(k[len(prefix):])) >= before {
			break
		}
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= horizon {
			break
		}
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteAppendTimes deletes every mark of topic (when the topic goes).
func deleteAppendTimes(tx store.Tx, topic string) error {
	return deleteTopicKeys(tx, bucketAppendTimes, topic)
}

// deleteTopicKeys deletes the keys of bucket that start with topic and a
// NUL: the layout of the per-partition state buckets.
func deleteTopicKeys(tx store.Tx, bucket []byte, topic string) error {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	prefix := append([]byte(topic), 0)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// loadAppendTimes returns a partition's marks in offset order and sets
// its newest mark for the committer. A damaged mark is skipped with a
// warning: marks only decide which ids dedup remembers.
func (l *Log) loadAppendTimes(tx store.Tx, p *partition) []appendMark {
	p.mark = noMark
	b := tx.Bucket(bucketAppendTimes)
	if b == nil {
		return nil
	}
	prefix := appendTimesPrefix(p.topic, p.id)
	var marks []appendMark
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 || len(v) != 8 {
			l.cfg.logger.Warn("damaged append-time mark skipped", "topic", p.topic, "partition", p.id, "key", k)
			continue
		}
		at := int64(binary.BigEndian.Uint64(v))
		marks = append(marks, appendMark{off: int64(binary.BigEndian.Uint64(k[len(prefix):])), since: at, at: at})
	}
	if len(marks) > 0 {
		p.mark = marks[len(marks)-1]
	}
	return marks
}

// appendTimeOf returns the append time marks give offset off, and false
// if off is below the first mark (past the window).
func appendTimeOf(marks []appendMark, off int64) (int64, bool) {
	i := sort.Search(len(marks), func(i int) bool { return marks[i].off > off })
	if i == 0 {
		return 0, false
	}
	return marks[i-1].at, true
}

// recoverDedup remembers the ids of the partition's newest records
// appended within the window, at most the dedup limit of them, with the
// append times marks give them (record timestamps for a partition without
// marks). It walks chunks from the newest back, so a large
// window on a large log costs no more than the limit.
func (l *Log) recoverDedup(tx store.Tx, p *partition, marks []appendMark) error {
	index, data := tx.Bucket(p.index), tx.Bucket(p.data)
	if index == nil || data == nil {
		return nil
	}
	now := l.cfg.now().UnixNano()
	horizon := now - int64(l.cfg.dedupWindow)
	legacy := len(marks) == 0
	type seen struct {
		id  [16]byte
		off int64
		at  int64
	}
	var chunks [][]seen // newest chunk first
	total := 0
	c := index.Cursor()
	for k, v := c.Last(); k != nil && total < l.cfg.dedupMax; k, v = c.Prev() {
		meta, reason := parseChunkMeta(k, v)
		if reason != "" {
			break
		}
		first := keyOffset(k)
		if legacy {
			if meta.MaxTs < horizon {
				break
			}
		} else if at, ok := appendTimeOf(marks, first+max(meta.Count, 1)-1); !ok || at < horizon {
			// Marks grow with offsets: every older chunk is older still.
			break
		}
		var ids []seen
		reason = walkStoredIDs(p.format, data.Get(k), first, func(off int64, id [16]byte, ts int64) bool {
			if off < p.start {
				return true
			}
			at := ts
			if !legacy {
				var ok bool
				if at, ok = appendTimeOf(marks, off); !ok {
					return true
				}
			}
			if at >= horizon {
				ids = append(ids, seen{id, off, min(at, now)})
			}
			return true
		})
		if reason != "" {
			l.cfg.logger.Warn("damaged chunk skipped while rebuilding dedup ids",
				"topic", p.topic, "partition", p.id, "chunk", first, "reason", reason)
		}
		chunks = append(chunks, ids)
		total += len(ids)
	}
	t := l.topics[p.topic]
	for i := len(chunks) - 1; i >= 0; i-- {
		for _, s := range chunks[i] {
			t.dedup.add(s.id, position{part: p.id, offset: s.off}, s.at, l.cfg.dedupMax)
		}
	}
	return nil
}
