package wal_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

// Benchmarks of the log on a real bbolt file, and the raw bbolt baselines
// they are compared with (BenchmarkBoltBaseline), so that ratios come from
// one run on one machine. Payloads are 256 B throughout.
//
// BenchmarkReopen and BenchmarkHeapRetained build logs of gigabytes; they
// run only with benchBigEnv=1. BenchmarkReopen keeps its log in
// os.TempDir()/onexbus-bench-reopen-v1 between runs (remove it by hand).
//
// bbolt's commit calls fdatasync twice (dirty pages, then the meta page),
// so fsyncs/op is twice commits/op.

const (
	benchPayloadSize = 256
	benchBigEnv      = "ONEXBUS_BENCH_BIG"
	benchTopic       = "bench"
)

var benchPayload = func() []byte {
	p := make([]byte, benchPayloadSize)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}()

// countingStore counts the Updates that committed: each is one group
// commit of the log, and on a syncing bbolt store one durable commit.
type countingStore struct {
	store.Store
	commits atomic.Int64
}

// Update runs the wrapped store's Update and counts it if it committed.
func (s *countingStore) Update(fn func(store.Tx) error) error {
	err := s.Store.Update(fn)
	if err == nil {
		s.commits.Add(1)
	}
	return err
}

// openBenchBolt opens a bbolt store at path that the benchmark closes.
func openBenchBolt(b *testing.B, path string, opts ...bolt.Option) *bolt.Store {
	b.Helper()
	st, err := bolt.Open(path, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	return st
}

// openBenchLog opens a log on st with topic benchTopic of parts
// partitions; the benchmark closes it (before st).
func openBenchLog(b *testing.B, st store.Store, parts int32, opts ...wal.Option) *wal.Log {
	b.Helper()
	l, err := wal.Open(st, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	if _, err := l.CreateTopic(benchTopic, wal.TopicConfig{Partitions: parts}); err != nil {
		b.Fatal(err)
	}
	return l
}

// benchRecord fills r as record number i: a distinct message id, the
// timestamp ts and the shared 256 B payload.
func benchRecord(r *wal.Record, i uint64, ts int64) {
	*r = wal.Record{Timestamp: ts, Payload: benchPayload}
	binary.BigEndian.PutUint64(r.MessageID[:], i+1)
	binary.BigEndian.PutUint64(r.MessageID[8:], 0x6f6e6578)
}

// appendBatches appends n records to partition 0 of benchTopic in
// batches of 1,000, record i with timestamp ts(i), starting at number
// first.
func appendBatches(tb testing.TB, l *wal.Log, first, n uint64, ts func(i uint64) int64) {
	tb.Helper()
	ctx := context.Background()
	batch := make([]wal.Record, 1000)
	for i := first; i < first+n; {
		k := min(uint64(len(batch)), first+n-i)
		for j := range k {
			benchRecord(&batch[j], i+j, ts(i+j))
		}
		if err := l.Append(ctx, benchTopic, 0, batch[:k]); err != nil {
			tb.Fatal(err)
		}
		i += k
	}
}

// buildBenchLog writes a log of n records to a new bbolt file at path the
// fast way (PolicyNone on a no-sync store, one fsync at the end) and
// closes it.
func buildBenchLog(tb testing.TB, path string, n uint64, ts func(i uint64) int64) {
	tb.Helper()
	st, err := bolt.Open(path, bolt.WithNoSync(true))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := wal.Open(st, wal.WithPolicy(wal.PolicyNone, 0), wal.WithDedup(0, 0))
	if err != nil {
		tb.Fatal(errors.Join(err, st.Close()))
	}
	if _, err := l.CreateTopic(benchTopic, wal.TopicConfig{Partitions: 1}); err != nil {
		tb.Fatal(err)
	}
	appendBatches(tb, l, 0, n, ts)
	ctx := context.Background()
	// Close commits what is queued; the store's Close fsyncs.
	if err := errors.Join(l.Sync(ctx), l.Close(ctx), st.Close()); err != nil {
		tb.Fatal(err)
	}
}

func nowTs(uint64) int64 { return time.Now().UnixNano() }

// BenchmarkDurablePublish measures group commit: 64 appenders (rounded up
// to a multiple of GOMAXPROCS) each appending one 256 B record at a time
// under PolicySync to a syncing bbolt file. One op is one record.
func BenchmarkDurablePublish(b *testing.B) {
	for _, parts := range []int32{1, 4} {
		b.Run(fmt.Sprintf("appenders=64/partitions=%d", parts), func(b *testing.B) {
			st := &countingStore{Store: openBenchBolt(b, filepath.Join(b.TempDir(), "log.db"))}
			l := openBenchLog(b, st, parts)
			ctx := context.Background()
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((64 + procs - 1) / procs)
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetBytes(benchPayloadSize)
			b.ResetTimer()
			st.commits.Store(0)
			b.RunParallel(func(pb *testing.PB) {
				rec := make([]wal.Record, 1)
				part := int32(next.Add(1)) % parts
				for pb.Next() {
					benchRecord(&rec[0], next.Add(1), time.Now().UnixNano())
					if err := l.Append(ctx, benchTopic, part, rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCommits(b, st, 1)
		})
	}
}

// BenchmarkDurableAsync is BenchmarkDurablePublish with AppendAsync: 64
// appenders each keep up to 64 records in flight, so commits hold
// thousands of records. One op is one record.
func BenchmarkDurableAsync(b *testing.B) {
	st := &countingStore{Store: openBenchBolt(b, filepath.Join(b.TempDir(), "log.db"))}
	l := openBenchLog(b, st, 1)
	ctx := context.Background()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((64 + procs - 1) / procs)
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetBytes(benchPayloadSize)
	b.ResetTimer()
	st.commits.Store(0)
	b.RunParallel(func(pb *testing.PB) {
		inflight := make(chan struct{}, 64)
		done := func(err error) {
			if err != nil {
				b.Error(err)
			}
			<-inflight
		}
		for pb.Next() {
			inflight <- struct{}{}
			rec := []wal.Record{{}}
			benchRecord(&rec[0], next.Add(1), time.Now().UnixNano())
			if err := l.AppendAsync(ctx, benchTopic, 0, rec, done); err != nil {
				b.Error(err)
				return
			}
		}
		for range cap(inflight) {
			inflight <- struct{}{}
		}
	})
	reportCommits(b, st, 1)
}

// BenchmarkDurableBatch appends batches of 1,000 records of 256 B from one
// appender under PolicySync: the log's counterpart of the chunked raw
// bbolt baseline. One op is one batch.
func BenchmarkDurableBatch(b *testing.B) {
	st := &countingStore{Store: openBenchBolt(b, filepath.Join(b.TempDir(), "log.db"))}
	l := openBenchLog(b, st, 1)
	ctx := context.Background()
	batch := make([]wal.Record, 1000)
	var i uint64
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)) * benchPayloadSize)
	st.commits.Store(0)
	for b.Loop() {
		ts := time.Now().UnixNano()
		for j := range batch {
			benchRecord(&batch[j], i, ts)
			i++
		}
		if err := l.Append(ctx, benchTopic, 0, batch); err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, st, len(batch))
}

// reportCommits reports records/s, commits/op and fsyncs/op for a
// benchmark whose ops are perOp records each.
func reportCommits(b *testing.B, st *countingStore, perOp int) {
	b.Helper()
	commits := float64(st.commits.Load())
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(commits/float64(b.N), "commits/op")
	b.ReportMetric(2*commits/float64(b.N), "fsyncs/op")
}

// BenchmarkPublishLatency measures the latency of one appender appending
// one 256 B record at a time under PolicySync: every append waits for its
// own commit. It reports the median and the 99th percentile.
func BenchmarkPublishLatency(b *testing.B) {
	st := &countingStore{Store: openBenchBolt(b, filepath.Join(b.TempDir(), "log.db"))}
	l := openBenchLog(b, st, 1)
	ctx := context.Background()
	rec := make([]wal.Record, 1)
	lat := make([]time.Duration, 0, 4096)
	var i uint64
	b.ReportAllocs()
	st.commits.Store(0)
	for b.Loop() {
		start := time.Now()
		benchRecord(&rec[0], i, start.UnixNano())
		i++
		if err := l.Append(ctx, benchTopic, 0, rec); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	reportCommits(b, st, 1)
}

// BenchmarkReplay reads a partition of 1,000,000 records of 256 B from
// offset 0 to its end in one Read, on a reopened log (warm page cache).
// One op is the whole partition.
func BenchmarkReplay(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "log.db")
	buildBenchLog(b, path, n, nowTs)
	l := openBenchLog(b, openBenchBolt(b, path), 1)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(n * benchPayloadSize)
	for b.Loop() {
		var count, size int
		end, err := l.Read(ctx, benchTopic, 0, 0, n+1, func(e *wal.Entry) error {
			count++
			size += len(e.Payload)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if count != n || end != n || size != n*benchPayloadSize {
			b.Fatalf("read %d records (%d bytes) up to %d, want %d", count, size, end, n)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "records/s")
}

// benchBig skips b unless benchBigEnv=1.
func benchBig(b *testing.B, what string) {
	b.Helper()
	if os.Getenv(benchBigEnv) != "1" {
		b.Skipf("set %s=1 to run: %s", benchBigEnv, what)
	}
}

// reopenRecords makes BenchmarkReopen's log about 1 GiB: a record takes
// 304 B in its chunk, a chunk of 100 records 8 bbolt pages.
const reopenRecords = 3_300_000

// reopenBase is the timestamp of the first record of BenchmarkReopen's
// log; records are 1 µs apart.
var reopenBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkReopen measures bolt.Open plus wal.Open of a ~1 GiB log (warm
// page cache), built once and kept under os.TempDir(). Sub-benchmarks:
//   - dedup=past: the records are older than the dedup window, so
//     recovery reads the index only;
//   - dedup=all: the clock is just after the last record, as when a
//     process restarts right after writing, so every record is inside the
//     window and recovery rebuilds the dedup ids.
//
// open-ms is the open alone; ns/op also counts the Close.
func BenchmarkReopen(b *testing.B) {
	benchBig(b, "builds a ~1 GiB log under os.TempDir() once and reopens it")
	dir := filepath.Join(os.TempDir(), "onexbus-bench-reopen-v1")
	path := filepath.Join(dir, "log.db")
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		buildBenchLog(b, path, reopenRecords, func(i uint64) int64 {
			return reopenBase.Add(time.Duration(i) * time.Microsecond).UnixNano()
		})
		if err := os.WriteFile(done, nil, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %s in %v", path, time.Since(start))
	} else if err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	last := reopenBase.Add(reopenRecords * time.Microsecond)
	for _, tc := range []struct {
		name string
		opts []wal.Option
	}{
		{"dedup=past", nil},
		{"dedup=all", []wal.Option{wal.WithClock(func() time.Time { return last })}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var open time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				st, err := bolt.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				l, err := wal.Open(st, tc.opts...)
				if err != nil {
					b.Fatal(errors.Join(err, st.Close()))
				}
				open += time.Since(start)
				if _, end, err := l.Offsets(benchTopic, 0); err != nil || end != reopenRecords {
					b.Fatalf("end offset %d (%v), want %d", end, err, reopenRecords)
				}
				if err := errors.Join(l.Close(ctx), st.Close()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "open-ms")
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		})
	}
}

// heapInuseMiB runs a GC and returns the heap in use.
func heapInuseMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// BenchmarkHeapRetained appends 10,000,000 records of 256 B (PolicyNone,
// batches of 1,000) and reports the heap in use after a GC at 1M and at
// 10M records, and after a reopen of the 10M-record log: it must not grow
// with the log. With dedup=default every record has a message id, so the
// heap holds the dedup ids of the window (at most 100,000); dedup=off
// shows the log alone. One op is the whole run; only the metrics matter.
func BenchmarkHeapRetained(b *testing.B) {
	benchBig(b, "appends 10M records (~3 GiB) to a log in b.TempDir()")
	for _, tc := range []struct {
		name string
		opts []wal.Option
	}{
		{"dedup=default", nil},
		{"dedup=off", []wal.Option{wal.WithDedup(0, 0)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "log.db")
			for b.Loop() {
				heapRetained(b, path, tc.opts...)
			}
		})
	}
}

func heapRetained(b *testing.B, path string, opts ...wal.Option) {
	b.Helper()
	ctx := context.Background()
	st, err := bolt.Open(path, bolt.WithNoSync(true))
	if err != nil {
		b.Fatal(err)
	}
	// Not openBenchLog: its cleanup would keep this log, and so its
	// memory, reachable while the reopened one is measured.
	l, err := wal.Open(st, append(opts, wal.WithPolicy(wal.PolicyNone, 0))...)
	if err != nil {
		b.Fatal(errors.Join(err, st.Close()))
	}
	if _, err := l.CreateTopic(benchTopic, wal.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	base := heapInuseMiB()
	appendBatches(b, l, 0, 1_000_000, nowTs)
	if err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	at1M := heapInuseMiB()
	appendBatches(b, l, 1_000_000, 9_000_000, nowTs)
	if err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	at10M := heapInuseMiB()
	if err := errors.Join(l.Close(ctx), st.Close()); err != nil {
		b.Fatal(err)
	}

	st, err = bolt.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	l, err = wal.Open(st, opts...)
	if err != nil {
		b.Fatal(errors.Join(err, st.Close()))
	}
	reopened := heapInuseMiB()
	if err := errors.Join(l.Close(ctx), st.Close(), os.Remove(path)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(base, "heap-0-MiB")
	b.ReportMetric(at1M, "heap-1M-MiB")
	b.ReportMetric(at10M, "heap-10M-MiB")
	b.ReportMetric(reopened, "heap-reopen-MiB")
}

// BenchmarkBoltBaseline is raw bbolt (with store/bolt's defaults: no
// freelist sync, map freelist), no log: one fsync'd db.Update writes
// 1,000 records of 256 B, either as one key per record or as chunks of
// 100 records per value (the log's default chunking, without its frame
// headers and index). One op is one Update.
func BenchmarkBoltBaseline(b *testing.B) {
	const perTx, perChunk = 1000, 100
	for _, tc := range []struct {
		name  string
		chunk int
	}{
		{"layout=key-per-record", 1},
		{"layout=chunks-of-100", perChunk},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{
				Timeout:        time.Second,
				NoFreelistSync: true,
				FreelistType:   bbolt.FreelistMapType,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := db.Close(); err != nil {
					b.Error(err)
				}
			})
			name := []byte("d")
			value := slices.Repeat(benchPayload, tc.chunk)
			var next uint64
			b.ReportAllocs()
			b.SetBytes(perTx * benchPayloadSize)
			for b.Loop() {
				err := db.Update(func(tx *bbolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists(name)
					if err != nil {
						return err
					}
					for range perTx / tc.chunk {
						if err := bk.Put(binary.BigEndian.AppendUint64(nil, next), value); err != nil {
							return err
						}
						next += uint64(tc.chunk)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
