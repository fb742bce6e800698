package dlq

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/onexbus/onexbus/store"
)

// The origin index maps a message's provenance in one consumer group
// (group, topic, partition, offset) to the id of its queued letter, so
// that dead-lettering the same message twice (a crash between Add and the
// group's cursor commit redelivers it, and its persisted attempts send it
// straight back) leaves one letter, not two.
//
// Keys are a SHA-256 of the provenance (fixed size whatever the group and
// topic lengths); Add decodes the letter an entry points to and compares
// its provenance, so a stale entry (left by removing a corrupt letter,
// which cannot be decoded to find its entry) or a hash collision is
// harmless: it is overwritten.
var bucketOrigins = []byte("dlq.origins") // originKey -> big-endian id

// indexed reports whether l takes part in the origin index: only letters
// with a real log offset do.
func indexed(l *Letter) bool { return l.Offset >= 0 }

// originKey returns a new key for l's provenance.
func originKey(l *Letter) []byte {
	h := sha256.New()
	var n [8]byte
	for _, s := range [2]string{l.Group, l.Topic} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint32(n[:4], uint32(l.Partition))
	h.Write(n[:4])
	binary.BigEndian.PutUint64(n[:], uint64(l.Offset))
	h.Write(n[:])
	return h.Sum(make([]byte, 0, sha256.Size))
}

func sameOrigin(a, b *Letter) bool {
	return a.Group == b.Group && a.Topic == b.Topic && a.Partition == b.Partition && a.Offset == b.Offset
}

// queuedOrigin returns the id of the queued letter with l's provenance, if
// any, looking through key (originKey(l)).
func queuedOrigin(bk *bkts, key []byte, l *Letter) (uint64, bool) {
	v := bk.origins.Get(key)
	if len(v) != 8 {
		return 0, false
	}
	id := binary.BigEndian.Uint64(v)
	lv := bk.letters.Get(idKey(id))
	if lv == nil {
		return 0, false
	}
	old, err := decodeLetter(id, lv)
	if err != nil || !sameOrigin(&old, l) {
		return 0, false
	}
	return id, true
}

// unindex deletes the origin entry of letter id (stored value v, read
// before the letter is deleted), if v decodes and the entry points to id.
func unindex(bk *bkts, id uint64, v []byte) error {
	l, err := decodeLetter(id, v)
	if err != nil || !indexed(&l) {
		return nil // a corrupt letter's entry stays, stale and harmless
	}
	key := originKey(&l)
	if cur := bk.origins.Get(key); len(cur) == 8 && binary.BigEndian.Uint64(cur) == id {
		return bk.origins.Delete(key)
	}
	return nil
}

// bkts are the queue's buckets in one write transaction.
type bkts struct {
	letters, meta, origins store.Bucket
}
