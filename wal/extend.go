package wal

import (
	"math"
	"slices"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Chunks that fill across commits.
//
// A commit stores what is queued, and a synchronous appender queues a
// record or a few per commit: one chunk per commit would leave its log
// with chunks of one record, a key and an index entry each, which makes
// Open, time and correlation lookups and retention walk many times more
// entries than a log of full chunks (see the package doc, Model). So the
// commits of a partition store their records in small chunks of their
// own (the trailing run: the newest chunks, which together fit the chunk
// bounds), and the commit that fills the run, the one after which a
// chunk like its own would no longer fit, merges the run and its own
// records into one chunk: the run's first key gets the value of them
// all, its index entry is rewritten and the other keys of the run are
// deleted, in the same transaction as everything else. The store's
// transaction is atomic, so a crash leaves the run or the merged chunk,
// never a mix; the run's records are checked (every CRC) before they are
// copied, so damage is never carried into the new value, and a chunk that
// does not check out is left alone (only the chunks after it merge). The
// run is found from the index (its newest entries), so it survives a
// reopen.
//
// Why a run and not one chunk extended by every commit (the first
// version): bbolt splits no leaf of four keys or fewer, so a chunk value
// shares its leaf page with up to three of its neighbours, and rewriting
// the newest chunk wrote those full chunks again, every commit: 16
// synchronous publishers wrote 230-300 KB a commit against 60-100 KB for
// a chunk per commit, and each commit took that much longer. A run's
// small chunks share a leaf with small chunks; each record is written
// about twice (its small chunk, then the merged one).
//
// Retention by age drops whole chunks, so a chunk whose oldest record is
// older than MaxAge/8 joins no run.
//
// A store that keeps values without copying (store.Retainer: the memory
// store) keeps a chunk per commit: a key costs it little and a merge a
// copy.

// extendBufMax is the largest scratch buffer the committer keeps between
// commits for merged chunks; a larger one (many partitions merged in one
// commit) is dropped after its commit.
const extendBufMax = 1 << 20

// runBufMax is the most run entries the committer keeps between commits
// (runBuf): a partition of Kafka batches of a few records can have
// thousands of chunks in a run; the buffer of such a run is dropped after
// its commit.
const runBufMax = 1024

// extendAgeShare bounds the time a merged chunk spans to MaxAge /
// extendAgeShare, so that retention by age stays that fine.
const extendAgeShare = 8

// runChunk is a chunk of a partition's trailing run.
type runChunk struct {
	first int64
	meta  chunkMeta
}

// extendNewest stores the queued chunk ch of c together with the
// partition's trailing run when ch fills it, and merges a run that ch
// does not fit into. newest is the first offset of the partition's newest
// chunk in the transaction (-1 for none). It reports whether it stored
// ch; when it did not, the caller stores ch as a chunk of its own.
func (l *Log) extendNewest(data, index store.Bucket, c *cut, ch *tailChunk, newest int64, now time.Time) (bool, error) {
	if newest < 0 || l.cfg.noExtend {
		return false, nil
	}
	if _, ok := data.(store.Retainer); ok {
		return false, nil
	}
	p := c.p
	hdr := int64(chunkHeaderLen(p.format))
	chBytes := int64(len(ch.b)) - hdr
	run, count, bytes := l.trailingRun(index, c, ch.first, now, hdr)
	if len(run) == 0 {
		return false, nil
	}
	if l.fitsChunk(p, count+ch.count, bytes+chBytes) {
		if l.fitsChunk(p, count+2*ch.count, bytes+2*chBytes) {
			return false, nil // room for another commit like this one
		}
		return l.mergeRun(data, index, c, run, ch, hdr)
	}
	// ch does not fit: the run is as full as it gets.
	if len(run) > 1 {
		if _, err := l.mergeRun(data, index, c, run, nil, hdr); err != nil {
			return false, err
		}
	}
	return false, nil
}

// fitsChunk says whether count records of bytes (without the chunk
// header) fit one chunk of p.
func (l *Log) fitsChunk(p *partition, count, bytes int64) bool {
	return bytes <= int64(l.cfg.chunkBytes) && count <= math.MaxUint32 &&
		(p.format != FormatFrames || count <= int64(l.cfg.chunkRecords))
}

// trailingRun returns the newest chunks of c's partition, oldest first,
// that end at end (where ch starts) and together fit one chunk: readable
// (above the start), index entries intact, young enough for retention by
// age; with their records and bytes (without headers).
//
// The slice is l.runBuf, valid until the next call: every commit of a
// synchronous publisher walks its run (up to ChunkRecords entries), and
// a new slice each time was about a quarter of what a one-publisher
// commit allocated, wal's, bbolt's and core's together (core
// BenchmarkDurableSyncPublish publishers=1: 35.9 KB a message with it,
// 26.5 KB without), garbage the collector then ran for.
func (l *Log) trailingRun(index store.Bucket, c *cut, end int64, now time.Time, hdr int64) ([]runChunk, int64, int64) {
	run := l.runBuf[:0]
	defer func() {
		if cap(run) <= runBufMax {
			l.runBuf = run[:0]
		} else {
			l.runBuf = nil
		}
	}()
	var count, bytes int64
	cur := index.Cursor()
	for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
		first := keyOffset(k)
		meta, reason := parseChunkMeta(k, v)
		if reason != "" || first+meta.Count != end || first+meta.Count <= c.start {
			break
		}
		// Retention by age drops whole chunks: one that kept growing
		// would keep its old records as long as it grows.
		if age := c.retention.MaxAge; age > 0 && now.UnixNano()-meta.MinTs > int64(age/extendAgeShare) {
			break
		}
		if !l.fitsChunk(c.p, count+meta.Count, bytes+meta.Bytes-hdr) {
			break
		}
		count += meta.Count
		bytes += meta.Bytes - hdr
		run = append(run, runChunk{first: first, meta: meta})
		end = first
	}
	slices.Reverse(run)
	return run, count, bytes
}

// mergeRun stores the chunks of run, and ch when not nil, as one chunk
// under the run's first key, and deletes the others. The run's chunks are
// checked first: the merge starts after the newest that does not check
// out (with nothing left to merge, nothing is written). It reports
// whether it stored ch.
func (l *Log) mergeRun(data, index store.Bucket, c *cut, run []runChunk, ch *tailChunk, hdr int64) (bool, error) {
	p := c.p
	values := make([][]byte, len(run))
	frames := make([]int, len(run))
	from := 0
	for i, r := range run {
		v := data.Get(offsetKey(r.first))
		count, n, reason := storedChunkShape(p, v, r.first)
		if int64(len(v)) != r.meta.Bytes || reason != "" || count != r.meta.Count {
			from = i + 1 // damaged: left alone, with what comes before it
			continue
		}
		values[i], frames[i] = v, n
	}
	run, values, frames = run[from:], values[from:], frames[from:]
	if len(run) == 0 || (ch == nil && len(run) == 1) {
		return false, nil
	}
	at := len(l.extendBuf)
	var count, old int64
	n := 0
	for i, v := range values {
		if i == 0 {
			l.extendBuf = append(l.extendBuf, v...)
		} else {
			l.extendBuf = append(l.extendBuf, v[hdr:]...)
		}
		count += run[i].meta.Count
		old += run[i].meta.Bytes
		n += frames[i]
	}
	if ch != nil {
		l.extendBuf = append(l.extendBuf, ch.b[hdr:]...)
		count += ch.count
		n += ch.n
	}
	key := offsetKey(run[0].first)
	merged := tailChunk{b: l.extendBuf[at:len(l.extendBuf):len(l.extendBuf)], first: run[0].first, count: count, n: n}
	meta, err := chunkMetaOf(p, &merged)
	if err != nil {
		return false, err
	}
	if err := data.Put(key, merged.b); err != nil {
		return false, err
	}
	if err := index.Put(key, meta.appendTo(nil, key)); err != nil {
		return false, err
	}
	for _, r := range run[1:] {
		k := offsetKey(r.first)
		if err := data.Delete(k); err != nil {
			return false, err
		}
		if err := index.Delete(k); err != nil {
			return false, err
		}
	}
	c.newBytes += meta.Bytes - old
	return ch != nil, nil
}

// releaseExtendBuf lets the scratch buffer of a commit go if it grew past
// extendBufMax, and otherwise keeps it, emptied, for the next commit: the
// store copied what it needs before Update returned.
func (l *Log) releaseExtendBuf() {
	if cap(l.extendBuf) > extendBufMax {
		l.extendBuf = nil
		return
	}
	l.extendBuf = l.extendBuf[:0]
}
