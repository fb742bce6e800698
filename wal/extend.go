package wal

import (
	"math"
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
// first chunk a commit stores for a partition extends the partition's
// newest stored chunk when the two fit the chunk bounds together: the
// commit rewrites that chunk's value (its records, then the new ones)
// and its index entry under the same key, in the same transaction as
// everything else. The store's transaction is atomic, so a crash leaves
// the old chunk or the extended one, never a mix; the old records are
// checked (every CRC) before they are copied, so damage is never carried
// into the new value, and a chunk that does not check out is left alone
// (the new records start a chunk of their own).
//
// Retention by age drops whole chunks, so a topic with MaxAge extends a
// chunk only while its oldest record is younger than MaxAge/8.
//
// A store that keeps values without copying (store.Retainer: the memory
// store) is not extended: a key costs it little and a rewrite a copy.

// extendBufMax is the largest scratch buffer the committer keeps between
// commits for extended chunks; a larger one (many partitions extended in
// one commit) is dropped after its commit.
const extendBufMax = 1 << 20

// extendAgeShare bounds the time an extended chunk spans to MaxAge /
// extendAgeShare, so that retention by age stays that fine.
const extendAgeShare = 8

// extendNewest stores the queued chunk ch of c by extending newest, the
// first offset of the partition's newest chunk in the transaction (-1 for
// none), if ch continues it and both fit the chunk bounds together. It
// reports whether it did; when it did not, nothing was written.
func (l *Log) extendNewest(data, index store.Bucket, c *cut, ch *tailChunk, newest int64, now time.Time) (bool, error) {
	p := c.p
	if newest < 0 || l.cfg.noExtend {
		return false, nil
	}
	if _, ok := data.(store.Retainer); ok {
		return false, nil
	}
	key := offsetKey(newest)
	old, reason := parseChunkMeta(key, index.Get(key))
	if reason != "" || newest+old.Count != ch.first || newest+old.Count <= c.start {
		return false, nil
	}
	// Retention by age drops whole chunks: one that keeps growing would
	// keep its old records as long as it grows. A chunk whose oldest
	// record is older than an eighth of MaxAge takes no more.
	if age := c.retention.MaxAge; age > 0 && now.UnixNano()-old.MinTs > int64(age/extendAgeShare) {
		return false, nil
	}
	hdr := int64(chunkHeaderLen(p.format))
	used := old.Bytes - hdr + int64(len(ch.b)) - hdr
	if used > int64(l.cfg.chunkBytes) || old.Count+ch.count > math.MaxUint32 ||
		(p.format == FormatFrames && old.Count+ch.count > int64(l.cfg.chunkRecords)) {
		return false, nil
	}
	v := data.Get(key)
	if int64(len(v)) != old.Bytes {
		return false, nil
	}
	count, n, reason := storedChunkShape(p, v, newest)
	if reason != "" || count != old.Count {
		return false, nil
	}
	at := len(l.extendBuf)
	l.extendBuf = append(l.extendBuf, v...)
	l.extendBuf = append(l.extendBuf, ch.b[hdr:]...)
	merged := tailChunk{b: l.extendBuf[at:len(l.extendBuf):len(l.extendBuf)], first: newest, count: count + ch.count, n: n + ch.n}
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
	c.newBytes += meta.Bytes - old.Bytes
	return true, nil
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
