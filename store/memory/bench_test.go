package memory_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/memory"
)

var logName, idxName = []byte("log"), []byte("idx")

// BenchmarkPut1000 puts 1,000 values of 256 B with increasing 8-byte keys
// in one Update per iteration, the log's append pattern.
func BenchmarkPut1000(b *testing.B) {
	const records, size = 1000, 256
	s := memory.New()
	defer s.Close()
	value := make([]byte, size)
	var next uint64
	var k [8]byte
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(func(tx store.Tx) error {
			bk, err := tx.CreateBucket([]byte("log"))
			if err != nil {
				return err
			}
			for range records {
				binary.BigEndian.PutUint64(k[:], next)
				next++
				if err := bk.Put(k[:], value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPut1000Retained is BenchmarkPut1000 with retention: each Update
// also deletes the oldest 1,000 keys past a window of 100,000, so the heap
// stays the same size (without it the benchmark mostly measures the OS
// handing out fresh pages).
func BenchmarkPut1000Retained(b *testing.B) {
	const records, size, window = 1000, 256, 100_000
	s := memory.New()
	defer s.Close()
	value := make([]byte, size)
	var next uint64
	var k [8]byte
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(func(tx store.Tx) error {
			bk, err := tx.CreateBucket(logName)
			if err != nil {
				return err
			}
			for range records {
				binary.BigEndian.PutUint64(k[:], next)
				next++
				if err := bk.Put(k[:], value); err != nil {
					return err
				}
				if next > window {
					binary.BigEndian.PutUint64(k[:], next-window-1)
					if err := bk.Delete(k[:]); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPutOne is one Put per Update, the allocations an unbatched
// publish pays in the store (the target is one).
func BenchmarkPutOne(b *testing.B) {
	s := memory.New()
	defer s.Close()
	if err := s.Update(func(tx store.Tx) error { _, err := tx.CreateBucket([]byte("log")); return err }); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 256)
	var next uint64
	var k [8]byte
	fn := func(tx store.Tx) error {
		binary.BigEndian.PutUint64(k[:], next)
		next++
		return tx.Bucket(logName).Put(k[:], value)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRing is the retention ring: append one key, delete the oldest,
// seek to a key in the window, over windows of several sizes.
func BenchmarkRing(b *testing.B) {
	for _, window := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(window), func(b *testing.B) {
			s := memory.New()
			defer s.Close()
			value := make([]byte, 256)
			var next uint64
			key := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
			if err := s.Update(func(tx store.Tx) error {
				bk, err := tx.CreateBucket([]byte("log"))
				if err != nil {
					return err
				}
				for ; next < uint64(window); next++ {
					if err := bk.Put(key(next), value); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			var k, old, mid [8]byte
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Update(func(tx store.Tx) error {
					bk := tx.Bucket(logName)
					binary.BigEndian.PutUint64(k[:], next)
					binary.BigEndian.PutUint64(old[:], next-uint64(window))
					binary.BigEndian.PutUint64(mid[:], next-uint64(window)/2)
					next++
					if err := bk.Put(k[:], value); err != nil {
						return err
					}
					if err := bk.Delete(old[:]); err != nil {
						return err
					}
					if got, _ := bk.Cursor().Seek(mid[:]); got == nil {
						return fmt.Errorf("seek %x: nothing", mid)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRandomInsert puts random keys (an index by correlation id)
// into a bucket of 1,000,000 keys.
func BenchmarkRandomInsert(b *testing.B) {
	s := memory.New()
	defer s.Close()
	var x uint64 = 88172645463325252
	rnd := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	if err := s.Update(func(tx store.Tx) error {
		bk, err := tx.CreateBucket([]byte("idx"))
		if err != nil {
			return err
		}
		for range 1_000_000 {
			if err := bk.Put(binary.BigEndian.AppendUint64(nil, rnd()), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var k [8]byte
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(func(tx store.Tx) error {
			binary.BigEndian.PutUint64(k[:], rnd())
			return tx.Bucket(idxName).Put(k[:], nil)
		}); err != nil {
			b.Fatal(err)
		}
	}
}
