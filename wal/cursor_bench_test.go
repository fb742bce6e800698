package wal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/onexbus/onexbus/wal"
)

// BenchmarkCommitCursors is Kafka's OffsetCommit on the log: each op is
// one CommitCursors call of one partition's cursor, on a bbolt file with
// fsync (PolicySync), from c concurrent committers, each its own group.
// durable calls share group commits: fsyncs/op falls as committers are
// added. durable=false is the baseline that rides along with later
// commits (no fsync of its own).
func BenchmarkCommitCursors(b *testing.B) {
	for _, tc := range []struct {
		durable    bool
		committers int
	}{
		{false, 1},
		{true, 1},
		{true, 8},
		{true, 64},
	} {
		b.Run(fmt.Sprintf("durable=%v/committers=%d", tc.durable, tc.committers), func(b *testing.B) {
			ctx := context.Background()
			st := &countingStore{Store: openBenchBolt(b, filepath.Join(b.TempDir(), "log.db"))}
			l := openBenchLog(b, st, 1)
			appendBatches(b, l, 0, 1000, nowTs)
			var next atomic.Int64
			before := st.commits.Load()
			b.SetParallelism(max(tc.committers/2, 1)) // GOMAXPROCS=2 on the bench machine
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				group := "g" + strconv.FormatInt(next.Add(1), 10)
				off := int64(0)
				for pb.Next() {
					off = (off + 1) % 1000
					c := []wal.CursorCommit{{Topic: benchTopic, Value: wal.CursorValue{Offset: off, Metadata: "m"}}}
					if err := l.CommitCursors(ctx, group, c, tc.durable); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(st.commits.Load()-before)/float64(b.N), "fsyncs/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
