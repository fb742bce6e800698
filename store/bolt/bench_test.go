package bolt_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
)

const (
	benchRecords = 1000
	benchSize    = 256
)

var logName = []byte("log")

// BenchmarkPut1000 puts 1,000 values of 256 B with increasing 8-byte keys
// in one Update per iteration, through the store, fsync'd or not.
func BenchmarkPut1000(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []bolt.Option
	}{
		{"fsync", nil},
		{"nosync", []bolt.Option{bolt.WithNoSync(true)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "db"), tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					b.Error(err)
				}
			}()
			value := make([]byte, benchSize)
			var next uint64
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Update(func(tx store.Tx) error {
					bk, err := tx.CreateBucket(logName)
					if err != nil {
						return err
					}
					for range benchRecords {
						// bbolt keeps the key slice until commit: one per Put.
						if err := bk.Put(binary.BigEndian.AppendUint64(nil, next), value); err != nil {
							return err
						}
						next++
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRawBbolt is the team's baseline, straight on bbolt with fsync
// on: 1,000 records of 256 B per Update, stored as one key per record or
// as chunks of 100 or 1,000 records per value.
func BenchmarkRawBbolt(b *testing.B) {
	for _, tc := range []struct {
		name  string
		chunk int
	}{
		{"key-per-record", 1},
		{"chunk-100", 100},
		{"chunk-1000", 1000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := bbolt.Open(filepath.Join(b.TempDir(), "db"), 0o600, &bbolt.Options{
				NoFreelistSync: true,
				FreelistType:   bbolt.FreelistMapType,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := db.Close(); err != nil {
					b.Error(err)
				}
			}()
			value := make([]byte, benchSize*tc.chunk)
			var next uint64
			b.ReportAllocs()
			for b.Loop() {
				if err := db.Update(func(tx *bbolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists(logName)
					if err != nil {
						return err
					}
					for range benchRecords / tc.chunk {
						if err := bk.Put(binary.BigEndian.AppendUint64(nil, next), value); err != nil {
							return err
						}
						next += uint64(tc.chunk)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
