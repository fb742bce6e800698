package wal_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// BenchmarkMemoryAppend measures appenders contending for one partition
// of a memory-store log under PolicyNone (the memory bus's log): each
// appends one 256 B record at a time with a fresh message id, as a
// Bus.Publish does. appenders=4 on 2 cores is the open-loop memory row's
// shape (combine.go); appenders=1 is the uncontended cost. One op is one
// record; cpu-ns/op is the process's CPU time (user and system) per
// record. Retention keeps the newest 100,000 records, so memory stays
// bounded whatever b.N is. Run with -mutexprofile to see the partition
// lock's contention.
func BenchmarkMemoryAppend(b *testing.B) {
	for _, appenders := range []int{1, 4} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l, err := wal.Open(memstore.New(), wal.WithPolicy(wal.PolicyNone, 0))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := l.Close(context.Background()); err != nil {
					b.Error(err)
				}
			})
			if _, err := l.CreateTopic(benchTopic, wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxMessages: 100_000}}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetBytes(benchPayloadSize)
			b.ResetTimer()
			cpu := processCPU(b)
			run := func() {
				rec := make([]wal.Record, 1)
				for {
					i := next.Add(1)
					if i > uint64(b.N) {
						return
					}
					benchRecord(&rec[0], i, time.Now().UnixNano())
					rec[0].FreshID = true
					if err := l.Append(ctx, benchTopic, 0, rec); err != nil {
						b.Error(err)
						return
					}
				}
			}
			done := make(chan struct{}, appenders)
			for range appenders {
				go func() { run(); done <- struct{}{} }()
			}
			for range appenders {
				<-done
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")

		})
	}
}

// processCPU is the process's CPU time so far (user and system), in
// nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
