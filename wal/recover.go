package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/onexbus/onexbus/store"
)

func timeDuration(u uint64) time.Duration { return time.Duration(int64(u)) }

// repair is an index entry or start offset that recovery rebuilt from the
// data and writes back once it has read everything.
type repair struct {
	bucket, key, value []byte
}

// recover rebuilds the in-memory state from the store: topics, each
// partition's start, end and size, cursors and the dedup ids of the
// window. Every store transaction is atomic, so a crash leaves either a
// whole group commit or none of it; recovery only reads, except to write
// the format marker of a new store and to put back index entries and
// start offsets that failed their checksums and could be rebuilt from the
// chunks they describe.
func (l *Log) recover() error {
	if err := l.checkFormat(); err != nil {
		return fmt.Errorf("wal: recover: %w", err)
	}
	var repairs []repair
	err := l.st.View(func(tx store.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			c := meta.Cursor()
			prefix := []byte("topic/")
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				name := string(k[len(prefix):])
				cfg, id, reason := decodeTopicConfig(k, v)
				if reason != "" {
					return fmt.Errorf("%w: configuration of topic %q (meta key %q): %s", ErrCorrupt, name, k, reason)
				}
				l.installTopicLocked(name, cfg).id = id
			}
		}
		if err := l.checkOrphans(tx); err != nil {
			return err
		}
		for _, p := range l.parts {
			if err := l.recoverPartition(tx, p, &repairs); err != nil {
				return err
			}
		}
		if err := l.loadCursors(tx); err != nil {
			return err
		}
		l.loadProducers(tx)
		if err := l.loadProducerIDs(tx); err != nil {
			return err
		}
		return l.loadState(tx)
	})
	if err != nil {
		return fmt.Errorf("wal: recover: %w", err)
	}
	if len(repairs) == 0 {
		return nil
	}
	err = l.st.Update(func(tx store.Tx) error {
		for _, r := range repairs {
			b, err := tx.CreateBucket(r.bucket)
			if err != nil {
				return err
			}
			if err := b.Put(r.key, r.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wal: recover: write back %d repaired entries: %w", len(repairs), err)
	}
	return nil
}

// checkFormat refuses a store written by another log format and marks a
// new one with this format and a fresh cluster id. A store that holds
// topics but no marker was written by log format 1 (frames chunks without
// a version byte, index entries without checksums), which this build does
// not read: it is refused rather than misread.
func (l *Log) checkFormat() error {
	var format, cluster []byte
	hasTopics := false
	err := l.st.View(func(tx store.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(formatKey); v != nil {
			format = bytes.Clone(v)
		}
		if v := meta.Get(clusterKey); v != nil {
			cluster = bytes.Clone(v)
		}
		k, _ := meta.Cursor().Seek([]byte("topic/"))
		hasTopics = k != nil && bytes.HasPrefix(k, []byte("topic/"))
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case format == nil && hasTopics:
		return fmt.Errorf("%w: the store was written by log format 1 (chunks without a version byte); this build reads format %d only: "+
			"export its records with the release that wrote them, or start on a new data directory", ErrFormatVersion, logFormat)
	case format != nil:
		body, ok := checked(formatKey, format)
		if !ok || len(body) != 4 {
			return fmt.Errorf("%w: the log format marker (meta key %q) is damaged", ErrCorrupt, formatKey)
		}
		if v := binary.BigEndian.Uint32(body); v != logFormat {
			return fmt.Errorf("%w: the store was written by log format %d; this build reads format %d", ErrFormatVersion, v, logFormat)
		}
	}
	if cluster != nil {
		body, ok := checked(clusterKey, cluster)
		if !ok || len(body) != 16 {
			return fmt.Errorf("%w: the cluster id (meta key %q) is damaged", ErrCorrupt, clusterKey)
		}
		l.clusterID = clusterIDString(body)
		if format != nil {
			return nil
		}
	}
	id, err := newID()
	if err != nil {
		return err
	}
	if cluster == nil {
		l.clusterID = clusterIDString(id[:])
	}
	return l.st.Update(func(tx store.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if format == nil {
			v := appendChecked(binary.BigEndian.AppendUint32(nil, logFormat), 0, formatKey)
			if err := meta.Put(formatKey, v); err != nil {
				return err
			}
		}
		if cluster == nil {
			return meta.Put(clusterKey, appendChecked(append([]byte(nil), id[:]...), 0, clusterKey))
		}
		return nil
	})
}

// checkOrphans refuses data or index buckets of partitions that no
// topic configuration declares. CreateTopic stores the configuration
// before any record and DeleteTopic removes both in one transaction, so
// an orphan means a damaged configuration key or bucket name: reading on
// would make a topic's records vanish without a word.
func (l *Log) checkOrphans(tx store.Tx) error {
	return tx.ForEachBucket(func(name []byte) error {
		if !bytes.HasPrefix(name, []byte("d/")) && !bytes.HasPrefix(name, []byte("i/")) {
			return nil
		}
		rest := name[2:]
		i := bytes.LastIndexByte(rest, '/')
		if i < 0 {
			return fmt.Errorf("%w: bucket %q is not a partition's", ErrCorrupt, name)
		}
		topic, part := string(rest[:i]), string(rest[i+1:])
		t := l.topics[topic]
		if t != nil {
			for _, p := range t.parts {
				if string(p.data) == string(name) || string(p.index) == string(name) {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: bucket %q holds records of %s/%s, which no topic configuration declares (a damaged configuration key or bucket name)",
			ErrCorrupt, name, topic, part)
	})
}

func (l *Log) recoverPartition(tx store.Tx, p *partition, repairs *[]repair) error {
	startOK := false
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(p.startK); v != nil {
			if body, ok := checked(p.startK, v); ok && len(body) == 8 {
				p.start, startOK = int64(binary.BigEndian.Uint64(body)), true
			} else {
				l.cfg.logger.Warn("start offset damaged; the partition starts at its first chunk",
					"topic", p.topic, "partition", p.id, "key", string(p.startK))
			}
		} else {
			startOK = true // never moved
		}
	}
	index, data := tx.Bucket(p.index), tx.Bucket(p.data)
	first := int64(-1)
	if index != nil {
		c := index.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			meta, reason := parseChunkMeta(k, v)
			if reason != "" {
				var fixed string
				meta, fixed = l.rebuildIndexEntry(p, data, k)
				if fixed != "" {
					return &CorruptError{Topic: p.topic, Partition: p.id, Offset: keyOffset(k), Next: keyOffset(k) + 1,
						Reason: fmt.Sprintf("index entry (key %x): %s; its chunk: %s", k, reason, fixed)}
				}
				l.cfg.logger.Warn("index entry damaged; rebuilt from its chunk",
					"topic", p.topic, "partition", p.id, "chunk", keyOffset(k), "reason", reason)
				key := bytes.Clone(k)
				*repairs = append(*repairs, repair{bucket: p.index, key: key, value: meta.appendTo(nil, key)})
			}
			if first < 0 {
				first = keyOffset(k)
			}
			p.bytes += meta.Bytes
			p.next = max(p.next, keyOffset(k)+meta.Count)
			p.newest = keyOffset(k)
		}
	}
	if !startOK {
		p.start = max(first, 0)
		*repairs = append(*repairs, repair{bucket: bucketMeta, key: p.startK, value: encodeStart(p.startK, p.start)})
	}
	p.next = max(p.next, p.start)
	// The data bucket and its index are written in the same transaction;
	// a data chunk past the index's end means the file was damaged. One
	// whose own first offset disagrees with its key is a flipped key: it
	// is left alone (reads report the hole where it belongs, and an
	// append at that key replaces it). One that agrees is a chunk whose
	// index entry is lost: appending would overwrite it, so Open refuses.
	if data != nil {
		c := data.Cursor()
		for k, v := c.Seek(offsetKey(p.next)); k != nil; k, v = c.Next() {
			if _, reason := chunkFirstOffset(v, p.format, keyOffset(k)); reason != "" {
				l.cfg.logger.Warn("chunk past the end of its partition with a damaged key; ignored",
					"topic", p.topic, "partition", p.id, "key", fmt.Sprintf("%x", k), "reason", reason)
				continue
			}
			return &CorruptError{Topic: p.topic, Partition: p.id, Offset: keyOffset(k), Next: keyOffset(k) + 1,
				Reason: fmt.Sprintf("chunk (key %x) past the index's end %d, without an index entry", k, p.next)}
		}
	}
	p.stored = p.next
	marks := l.loadAppendTimes(tx, p)
	if l.cfg.dedupWindow > 0 {
		return l.recoverDedup(tx, p, marks)
	}
	return nil
}

// rebuildIndexEntry recomputes the index entry of the chunk under key from
// the chunk itself, checking every frame's or batch's CRC. It returns a
// reason when the chunk cannot vouch for itself.
func (l *Log) rebuildIndexEntry(p *partition, data store.Bucket, key []byte) (chunkMeta, string) {
	if data == nil || len(key) != 8 {
		return chunkMeta{}, "missing"
	}
	v := data.Get(key)
	if v == nil {
		return chunkMeta{}, "missing"
	}
	first := keyOffset(key)
	count, n, reason := storedChunkShape(p, v, first)
	if reason != "" {
		return chunkMeta{}, reason
	}
	ch := tailChunk{b: v, first: first, count: count, n: n}
	meta, err := chunkMetaOf(p, &ch)
	if err != nil {
		return chunkMeta{}, err.Error()
	}
	return meta, ""
}

// storedChunkShape checks the stored chunk v under key first, every
// frame's or batch's CRC included, and returns the offsets it spans and
// the frames or batches in it, or a reason when it cannot vouch for
// itself.
func storedChunkShape(p *partition, v []byte, first int64) (count int64, n int, reason string) {
	body, reason := checkChunkHeader(v, p.format, first)
	if reason != "" {
		return 0, 0, reason
	}
	if p.format == FormatKafka {
		at := first
		for b := body; len(b) > 0; {
			h, size, reason := checkBatch(b, at)
			if reason != "" {
				return 0, 0, reason
			}
			at += int64(h.Records())
			n++
			b = b[size:]
		}
		count = at - first
	} else {
		for b := body; len(b) > 0; {
			_, size, reason := parseFrame(b)
			if reason != "" {
				return 0, 0, reason
			}
			count++
			n++
			b = b[size:]
		}
	}
	if count == 0 {
		return 0, 0, "no records"
	}
	return count, n, ""
}
