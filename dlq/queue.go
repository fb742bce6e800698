package dlq

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/onexbus/onexbus/store"
)

// Buckets and metadata keys. Every bucket name starts with "dlq" so the
// queue can share a store with the log (whose buckets are "meta",
// "cursors", "attempts", "inflight" and "d/..", "i/.."); bucketOrigins is
// in origin.go.
var (
	bucketLetters = []byte("dlq.letters") // big-endian id -> encoded letter
	bucketMeta    = []byte("dlq.meta")
	keyVersion    = []byte("version") // one byte: formatVersion
	keyNext       = []byte("next")    // big-endian uint64: the next id
	keyCount      = []byte("count")   // big-endian uint64: letters held
)

// pageKeys bounds the keys one read transaction visits. The memory store's
// View blocks writers (the bus's log among them), so long walks go in
// pages.
const pageKeys = 1024

// Queue is the dead-letter queue on a store.Store. It is safe for
// concurrent use. It owns no goroutines and no resources, so it has no
// Close: closing the store ends it, and its methods then return errors
// wrapping store.ErrClosed.
type Queue struct {
	st  store.Store
	cfg config
	// replaySem (capacity 1) lets one Replay run at a time, so two
	// overlapping replays never re-publish the same letter twice.
	replaySem chan struct{}
}

// Open returns the queue kept in st, creating its buckets on first use. It
// checks the stored metadata against the letters and repairs (with a
// warning in the log) a next id that is not past every letter or a count
// that differs from the letters held; that walks every key once, without
// decoding. It returns an error wrapping ErrInvalidOption for bad options,
// ErrUnsupportedVersion for a queue written by a newer format, and store
// errors wrapped.
func Open(st store.Store, opts ...Option) (*Queue, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("dlq: open: %w", err)
	}
	if st == nil {
		return nil, fmt.Errorf("dlq: open: %w: store is nil", ErrInvalidOption)
	}
	q := &Queue{st: st, cfg: cfg, replaySem: make(chan struct{}, 1)}
	if err := st.Update(q.init); err != nil {
		return nil, fmt.Errorf("dlq: open: %w", err)
	}
	return q, nil
}

func (q *Queue) init(tx store.Tx) error {
	bk, err := buckets(tx)
	if err != nil {
		return err
	}
	letters, meta := bk.letters, bk.meta
	switch v := meta.Get(keyVersion); {
	case v == nil:
		if err := meta.Put(keyVersion, []byte{formatVersion}); err != nil {
			return fmt.Errorf("write version: %w", err)
		}
	case len(v) != 1 || v[0] == 0:
		return &CorruptError{Reason: fmt.Sprintf("version %x", v)}
	case v[0] > formatVersion:
		return fmt.Errorf("queue has format version %d, this build reads %d: %w", v[0], formatVersion, ErrUnsupportedVersion)
	}
	next, err := getUint(meta, keyNext, 1)
	if err != nil {
		return err
	}
	count, err := getUint(meta, keyCount, 0)
	if err != nil {
		return err
	}
	var held, last uint64
	c := letters.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 8 {
			return &CorruptError{Reason: fmt.Sprintf("letter key %x is not 8 bytes", k)}
		}
		held++
		last = binary.BigEndian.Uint64(k)
	}
	if next <= last || next == 0 {
		q.cfg.logger.Warn("dlq: next id not past the last letter; repaired", "next", next, "last", last)
		if err := putUint(meta, keyNext, last+1); err != nil {
			return err
		}
	}
	if count != held {
		q.cfg.logger.Warn("dlq: stored count differs from the letters held; repaired", "count", count, "held", held)
		if err := putUint(meta, keyCount, held); err != nil {
			return err
		}
	}
	return nil
}

// Add stores l as a new letter and returns its id; when it returns nil the
// letter is durable (one store Update, so as durable as the store's
// commits).
//
// A message is queued once per consumer group: if a letter with the same
// Group, Topic, Partition and Offset (Offset >= 0) is still queued, Add
// replaces it, removing the old letter and giving the new one a new id.
// So dead-lettering a message again after a crash between Add and the
// group's cursor commit does not duplicate it, and a Replay in progress
// that removes the old id after re-publishing it leaves the new letter
// alone. Letters with a negative Offset are never replaced.
// It stores l.Error redacted (Redact) and then capped
// (CapError, WithMaxErrorLen), and DeadLetteredAt from the clock when l
// has none. On success it sets l.ID, l.Error and l.DeadLetteredAt to what
// was stored, so l equals what Get returns; on error l is unchanged. Add
// does not keep l or its slices. It returns an error wrapping
// ErrInvalidLetter for a nil letter, an empty topic, a negative partition
// or attempts outside [0, math.MaxInt32], ctx's error if ctx is done
// before the write starts, and store errors wrapped.
func (q *Queue) Add(ctx context.Context, l *Letter) (uint64, error) {
	if l == nil {
		return 0, fmt.Errorf("dlq: add: %w: nil letter", ErrInvalidLetter)
	}
	if err := validateLetter(l); err != nil {
		return 0, fmt.Errorf("dlq: add letter of %s/%d@%d: %w", l.Topic, l.Partition, l.Offset, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("dlq: add letter of %s/%d@%d: %w", l.Topic, l.Partition, l.Offset, err)
	}
	stored := *l
	stored.Error = CapError(Redact(l.Error), q.cfg.maxErrorLen)
	if stored.DeadLetteredAt.IsZero() {
		stored.DeadLetteredAt = q.cfg.now()
	}
	// Encoded before the transaction (the id is the key, not in the
	// value), so the store's single writer is held for as little as
	// possible. val is not touched again: bbolt needs Put's value
	// unchanged until the transaction ends.
	val, err := encodeLetter(&stored)
	if err != nil {
		return 0, fmt.Errorf("dlq: add letter of %s/%d@%d: %w", l.Topic, l.Partition, l.Offset, err)
	}
	var okey []byte
	if indexed(&stored) {
		okey = originKey(&stored)
	}
	var id uint64
	err = q.st.Update(func(tx store.Tx) error {
		bk, err := buckets(tx)
		if err != nil {
			return err
		}
		next, err := getUint(bk.meta, keyNext, 1)
		if err != nil {
			return err
		}
		count, err := getUint(bk.meta, keyCount, 0)
		if err != nil {
			return err
		}
		if next == math.MaxUint64 {
			return &CorruptError{Reason: "next id is the largest uint64"}
		}
		if okey != nil {
			if old, ok := queuedOrigin(bk, okey, &stored); ok {
				// The same message again: it replaces the old letter.
				if err := bk.letters.Delete(idKey(old)); err != nil {
					return fmt.Errorf("delete replaced letter %d: %w", old, err)
				}
				count -= min(count, 1)
			}
			if err := bk.origins.Put(okey, idKey(next)); err != nil {
				return fmt.Errorf("index letter %d: %w", next, err)
			}
		}
		if err := bk.letters.Put(idKey(next), val); err != nil {
			return fmt.Errorf("put letter %d: %w", next, err)
		}
		if err := putUint(bk.meta, keyNext, next+1); err != nil {
			return err
		}
		if err := putUint(bk.meta, keyCount, count+1); err != nil {
			return err
		}
		id = next
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dlq: add letter of %s/%d@%d: %w", l.Topic, l.Partition, l.Offset, err)
	}
	l.ID, l.Error, l.DeadLetteredAt = id, stored.Error, stored.DeadLetteredAt
	return id, nil
}

func validateLetter(l *Letter) error {
	switch {
	case l.Topic == "":
		return fmt.Errorf("%w: empty topic", ErrInvalidLetter)
	case l.Partition < 0:
		return fmt.Errorf("%w: partition %d is negative", ErrInvalidLetter, l.Partition)
	case l.Attempts < 0 || l.Attempts > math.MaxInt32:
		return fmt.Errorf("%w: attempts %d not in [0, %d]", ErrInvalidLetter, l.Attempts, math.MaxInt32)
	}
	return nil
}

// Get returns the letter with the given id. It returns an error wrapping
// ErrNotFound when there is none, a *CorruptError when the stored letter
// is damaged, and ctx's error if ctx is done before the read.
func (q *Queue) Get(ctx context.Context, id uint64) (Letter, error) {
	if err := ctx.Err(); err != nil {
		return Letter{}, fmt.Errorf("dlq: get letter %d: %w", id, err)
	}
	var l Letter
	err := q.st.View(func(tx store.Tx) error {
		b := tx.Bucket(bucketLetters)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(idKey(id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		l, err = decodeLetter(id, v) // copies out of v before the View ends
		return err
	})
	if err != nil {
		return Letter{}, fmt.Errorf("dlq: get letter %d: %w", id, err)
	}
	return l, nil
}

// List returns the letters matching f, oldest first, at most f.Limit of
// them (0 returns none). Letters added after List started are not
// returned. It reads in pages of short transactions, so it is not one
// snapshot: a letter removed meanwhile may or may not be listed. It
// returns an error wrapping ErrInvalidFilter for a bad filter, a
// *CorruptError for a damaged letter (remove it by id), and ctx's error
// when ctx is done between pages.
func (q *Queue) List(ctx context.Context, f Filter) ([]Letter, error) {
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	var out []Letter
	if f.Limit == 0 {
		return out, nil
	}
	err := q.walk(ctx, &f, true, func(_ uint64, l *Letter) (bool, error) {
		out = append(out, *l)
		return len(out) < f.Limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	return out, nil
}

// Remove deletes the letters with the given ids, in one store Update, and
// returns how many it deleted; ids not held are skipped, not an error. It
// removes corrupt letters too.
func (q *Queue) Remove(ctx context.Context, ids ...uint64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("dlq: remove: %w", err)
	}
	n, err := q.remove(ids)
	if err != nil {
		return 0, fmt.Errorf("dlq: remove %d letters: %w", len(ids), err)
	}
	return n, nil
}

func (q *Queue) remove(ids []uint64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := q.st.Update(func(tx store.Tx) error {
		n = 0
		bk, err := buckets(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			k := idKey(id)
			v := bk.letters.Get(k)
			if v == nil {
				continue
			}
			if err := unindex(bk, id, v); err != nil {
				return fmt.Errorf("unindex letter %d: %w", id, err)
			}
			if err := bk.letters.Delete(k); err != nil {
				return fmt.Errorf("delete letter %d: %w", id, err)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		count, err := getUint(bk.meta, keyCount, 0)
		if err != nil {
			return err
		}
		return putUint(bk.meta, keyCount, count-min(count, uint64(n)))
	})
	return n, err
}

// Purge deletes the letters matching f, oldest first, at most f.Limit of
// them (0 deletes none; All deletes every match), and returns how many it
// deleted. Letters added after Purge started are kept. It deletes in
// batches of short transactions so the store's writer (shared with the
// log) is never held long; so an error, or ctx done between batches, can
// leave it part done, and the count says how far. When f has no field but
// IDs and Limit, Purge matches without decoding letters, so Purge(ctx,
// Filter{Limit: All}) empties even a queue with corrupt letters. It
// returns errors as List does.
func (q *Queue) Purge(ctx context.Context, f Filter) (int, error) {
	if err := f.validate(); err != nil {
		return 0, fmt.Errorf("dlq: purge: %w", err)
	}
	var purged, seen int
	var batch []uint64
	flush := func() error {
		n, err := q.remove(batch)
		purged += n
		batch = batch[:0]
		return err
	}
	if f.Limit == 0 {
		return 0, nil
	}
	err := q.walk(ctx, &f, false, func(id uint64, _ *Letter) (bool, error) {
		batch = append(batch, id)
		seen++
		if len(batch) == pageKeys {
			if err := flush(); err != nil {
				return false, err
			}
		}
		return seen < f.Limit, nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return purged, fmt.Errorf("dlq: purge (%d deleted): %w", purged, err)
	}
	return purged, nil
}

// Count returns how many letters the queue holds, from a counter kept in
// the same transactions as the letters (no walk).
func (q *Queue) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	var n uint64
	err := q.st.View(func(tx store.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		var err error
		n, err = getUint(meta, keyCount, 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	return int(min(n, math.MaxInt)), nil
}

// entry is one letter found by a page of walk.
type entry struct {
	id     uint64
	letter Letter
	ok     bool // letter was decoded
}

// walk calls fn, outside any transaction, with each letter matching f
// (all but Limit, which fn enforces by returning false) and id below the
// next id when walk started, in increasing id order. Each page is one
// View visiting at most pageKeys keys. fn gets the decoded letter when
// decode is true; otherwise a nil one. Letters are decoded anyway when f
// needs them, so a corrupt letter stops the walk only then.
func (q *Queue) walk(ctx context.Context, f *Filter, decode bool, fn func(id uint64, l *Letter) (bool, error)) error {
	decode = decode || f.needsLetter()
	var ids []uint64 // candidate ids when f.IDs is set
	if len(f.IDs) > 0 {
		ids = f.sortedIDs()
		for len(ids) > 0 && ids[0] <= f.AfterID {
			ids = ids[1:]
		}
		if len(ids) == 0 {
			return nil
		}
	}
	var (
		end   uint64      // ids >= end were added after the walk started
		after = f.AfterID // the page starts after this id
		page  []entry
	)
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		page = page[:0]
		var done bool
		err := q.st.View(func(tx store.Tx) error {
			letters, meta := tx.Bucket(bucketLetters), tx.Bucket(bucketMeta)
			if letters == nil || meta == nil {
				done = true
				return nil
			}
			if first {
				var err error
				if end, err = getUint(meta, keyNext, 1); err != nil {
					return err
				}
			}
			add := func(id uint64, v []byte) error {
				e := entry{id: id}
				if decode {
					l, err := decodeLetter(id, v)
					if err != nil {
						return err
					}
					if !f.match(&l) {
						return nil
					}
					e.letter, e.ok = l, true
				}
				page = append(page, e)
				return nil
			}
			visited := 0
			if ids != nil {
				for len(ids) > 0 && visited < pageKeys {
					id := ids[0]
					ids = ids[1:]
					visited++
					if id >= end {
						ids = nil
						break
					}
					if v := letters.Get(idKey(id)); v != nil {
						if err := add(id, v); err != nil {
							return err
						}
					}
				}
				done = len(ids) == 0
				return nil
			}
			c := letters.Cursor()
			for k, v := c.Seek(idKey(after + 1)); ; k, v = c.Next() {
				if k == nil {
					done = true
					return nil
				}
				if len(k) != 8 {
					return &CorruptError{Reason: fmt.Sprintf("letter key %x is not 8 bytes", k)}
				}
				if binary.BigEndian.Uint64(k) >= end {
					done = true
					return nil
				}
				if visited == pageKeys {
					return nil
				}
				visited++
				after = binary.BigEndian.Uint64(k)
				if err := add(after, v); err != nil {
					return err
				}
			}
		})
		if err != nil {
			return err
		}
		for i := range page {
			e := &page[i]
			var l *Letter
			if e.ok {
				l = &e.letter
			}
			more, err := fn(e.id, l)
			if err != nil || !more {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// buckets returns the queue's buckets in a write transaction, creating
// them if needed.
func buckets(tx store.Tx) (*bkts, error) {
	var bk bkts
	for _, b := range []struct {
		name []byte
		dst  *store.Bucket
	}{{bucketLetters, &bk.letters}, {bucketMeta, &bk.meta}, {bucketOrigins, &bk.origins}} {
		var err error
		if *b.dst, err = tx.CreateBucket(b.name); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", b.name, err)
		}
	}
	return &bk, nil
}

// idKey returns a new key for id: big-endian, so keys sort as ids do.
// Each call allocates, since bbolt needs a key unchanged until the
// transaction ends.
func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

// getUint reads a big-endian uint64 metadata value, def when absent.
func getUint(meta store.Bucket, key []byte, def uint64) (uint64, error) {
	v := meta.Get(key)
	if v == nil {
		return def, nil
	}
	if len(v) != 8 {
		return 0, &CorruptError{Reason: fmt.Sprintf("%s is %d bytes, want 8", key, len(v))}
	}
	return binary.BigEndian.Uint64(v), nil
}

// putUint writes a big-endian uint64 metadata value in a new slice.
func putUint(meta store.Bucket, key []byte, v uint64) error {
	if err := meta.Put(key, binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
