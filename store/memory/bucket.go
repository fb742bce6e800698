package memory

import (
	"bytes"
	"slices"
	"sort"
)

// leafMax is the most entries a leaf holds. Larger leaves make appends and
// seeks slightly cheaper and inserts in the middle dearer; 512 entries of
// 32 bytes are 16 KiB, a few memmoves of which cost well under a
// microsecond.
const leafMax = 512

// entry is one key and its value, copied into one allocation by newEntry
// (or, from PutRetained, the key copied and the value kept as given). An
// entry's bytes are never modified once made.
type entry struct {
	k, v []byte
}

func newEntry(key, value []byte) entry {
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	return entry{k: kv[:len(key):len(key)], v: kv[len(key):]}
}

func retainedEntry(key, value []byte) entry {
	return entry{k: slices.Clone(key), v: value[:len(value):len(value)]}
}

func (e entry) key() []byte   { return e.k }
func (e entry) value() []byte { return e.v }

// data is the ordered content of a bucket. Its methods need the store's
// lock: read for the lookups, write for the changes.
type data struct {
	// leaves are non-empty sorted slices of entries; every key of a leaf
	// is less than every key of the next one.
	leaves [][]entry
	// mod counts structural changes (inserts and deletes), so a cursor
	// can tell that its cached position is stale.
	mod uint64
}

// search returns where key is or would be inserted: the leaf index and the
// index in that leaf (possibly len(leaf)), and whether key is there. With
// no leaves it returns (0, 0, false).
func (d *data) search(key []byte) (li, j int, found bool) {
	if len(d.leaves) == 0 {
		return 0, 0, false
	}
	// The last leaf whose first key <= key, or the first leaf.
	li = sort.Search(len(d.leaves), func(i int) bool {
		return bytes.Compare(d.leaves[i][0].key(), key) > 0
	}) - 1
	if li < 0 {
		li = 0
	}
	leaf := d.leaves[li]
	j, found = slices.BinarySearchFunc(leaf, key, func(e entry, k []byte) int {
		return bytes.Compare(e.key(), k)
	})
	return li, j, found
}

// get returns the entry of key.
func (d *data) get(key []byte) (entry, bool) {
	li, j, found := d.search(key)
	if !found {
		return entry{}, false
	}
	return d.leaves[li][j], true
}

// put stores e and returns the entry it replaced, if any.
func (d *data) put(e entry) (old entry, replaced bool) {
	key := e.key()
	n := len(d.leaves)
	// Fast path: appending past the last key, the log's pattern.
	if n > 0 {
		last := d.leaves[n-1]
		if bytes.Compare(key, last[len(last)-1].key()) > 0 {
			if len(last) < leafMax {
				d.leaves[n-1] = append(last, e)
			} else {
				leaf := make([]entry, 1, leafMax)
				leaf[0] = e
				d.leaves = append(d.leaves, leaf)
			}
			d.mod++
			return entry{}, false
		}
	} else {
		d.leaves = append(d.leaves, []entry{e})
		d.mod++
		return entry{}, false
	}
	li, j, found := d.search(key)
	leaf := d.leaves[li]
	if found {
		old = leaf[j]
		leaf[j] = e
		return old, true
	}
	if len(leaf) >= leafMax {
		// Split the full leaf in two halves and insert into the right one.
		half := len(leaf) / 2
		right := make([]entry, len(leaf)-half, leafMax)
		copy(right, leaf[half:])
		clear(leaf[half:])
		d.leaves[li] = leaf[:half]
		d.leaves = slices.Insert(d.leaves, li+1, right)
		if j > half {
			li, j = li+1, j-half
		}
		leaf = d.leaves[li]
	}
	d.leaves[li] = slices.Insert(leaf, j, e)
	d.mod++
	return entry{}, false
}

// del removes key and returns its entry, if it was there.
func (d *data) del(key []byte) (old entry, deleted bool) {
	li, j, found := d.search(key)
	if !found {
		return entry{}, false
	}
	leaf := d.leaves[li]
	old = leaf[j]
	if j == 0 {
		// Deleting the first key (retention) just drops it: O(1). Clear
		// the slot so the entry's bytes can be collected.
		leaf[0] = entry{}
		leaf = leaf[1:]
	} else {
		leaf = slices.Delete(leaf, j, j+1)
	}
	if len(leaf) > 0 {
		d.leaves[li] = leaf
	} else if li == 0 {
		d.leaves[0] = nil
		d.leaves = d.leaves[1:]
	} else {
		d.leaves = slices.Delete(d.leaves, li, li+1)
	}
	d.mod++
	return old, true
}

// normalize turns a position from search into the position of the first
// key >= the searched key: (len(leaves), 0) if there is none.
func (d *data) normalize(li, j int) (int, int) {
	if li < len(d.leaves) && j >= len(d.leaves[li]) {
		return li + 1, 0
	}
	return li, j
}
