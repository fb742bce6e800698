package bench

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// bboltInstance is raw bbolt with its default options (an fdatasync per
// Update), the ceiling of a log on bbolt: write stores durableBatch
// records per Update, either one key per record (a big-endian sequence
// number) or, chunked, one value per 100 records (each record a uvarint
// length and its bytes), which is what saves bbolt's per-key page cost.
// There is no subscriber: bbolt has no delivery, so it is in the durable
// write comparison only.
type bboltInstance struct {
	db     *bolt.DB
	dir    string
	chunk  int // records per value; 1 means one key per record
	bucket []byte
}

// bboltChunk is how many records one value holds in bbolt-chunk.
const bboltChunk = 100

func openBboltKey(_ context.Context, topic string, _ func([]byte)) (instance, error) {
	return openBbolt(topic, 1)
}

func openBboltChunk(_ context.Context, topic string, _ func([]byte)) (instance, error) {
	return openBbolt(topic, bboltChunk)
}

func openBbolt(topic string, chunk int) (instance, error) {
	dir, err := os.MkdirTemp("", "bbolt-bench-")
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "bench.db"), 0o600, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	bi := &bboltInstance{db: db, dir: dir, chunk: chunk, bucket: []byte(topic)}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bi.bucket)
		return err
	}); err != nil {
		bi.close()
		return nil, err
	}
	return bi, nil
}

// publish stores one record in its own Update: what a log on bbolt
// without group commit would do. The benchmarks use write.
func (bi *bboltInstance) publish(_ context.Context, payload []byte) error {
	return bi.update(payload, 1)
}

func (bi *bboltInstance) write(_ context.Context, payload []byte, n int) error {
	for n > 0 {
		k := min(n, durableBatch)
		if err := bi.update(payload, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// update stores n records of payload in one Update (one fsync).
func (bi *bboltInstance) update(payload []byte, n int) error {
	var chunk []byte
	if bi.chunk > 1 {
		chunk = make([]byte, 0, min(n, bi.chunk)*(len(payload)+binary.MaxVarintLen64))
	}
	return bi.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bi.bucket)
		put := func(v []byte) error {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], seq)
			return b.Put(key[:], v)
		}
		if bi.chunk == 1 {
			for range n {
				if err := put(payload); err != nil {
					return err
				}
			}
			return nil
		}
		for n > 0 {
			k := min(n, bi.chunk)
			chunk = chunk[:0]
			for range k {
				chunk = binary.AppendUvarint(chunk, uint64(len(payload)))
				chunk = append(chunk, payload...)
			}
			// Put keeps a reference to the value until the
			// transaction commits: give it its own copy.
			if err := put(append([]byte(nil), chunk...)); err != nil {
				return err
			}
			n -= k
		}
		return nil
	})
}

func (bi *bboltInstance) close() error {
	err := bi.db.Close()
	if rerr := os.RemoveAll(bi.dir); err == nil {
		err = rerr
	}
	return err
}
