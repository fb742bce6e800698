package wal_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// The tail's frames get their CRC from the committer (the appender leaves
// it zero): every stored frame verifies when read back, after a reopen,
// from a store the log checks as a disk. That holds for a chunk that a
// failed commit left queued and the next commit took again, for
// synchronous and async appends, and for chunks a commit extends.
func TestStoredFramesSealed(t *testing.T) {
	ctx := context.Background()
	ms := memstore.New()
	fs := &failingStore{Store: diskStore{ms}}
	l, err := wal.Open(fs)
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	if err := l.Append(ctx, "t", 0, []wal.Record{{Timestamp: 1, Payload: []byte("queued through a failed commit")}}); !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("append while the store fails: %v", err)
	}
	fs.mu.Lock()
	fs.fail = false
	fs.mu.Unlock()
	const n = 300
	want := []string{"queued through a failed commit"}
	for i := range n {
		p := fmt.Sprint("sync ", i)
		want = append(want, p)
		if err := l.Append(ctx, "t", 0, []wal.Record{{Timestamp: int64(i), CorrelationID: [16]byte{byte(i)}, Payload: []byte(p)}}); err != nil {
			t.Fatal(err)
		}
	}
	var al ackLog
	for i := range n {
		p := fmt.Sprint("async ", i)
		want = append(want, p)
		appendAck(t, l, &al, "t", []byte(p))
	}
	al.wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l, err = wal.Open(diskStore{ms})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close(ctx)
	var got []string
	next, err := l.Read(ctx, "t", 0, 0, len(want)+1, func(e *wal.Entry) error {
		got = append(got, string(e.Payload))
		return nil
	})
	if err != nil {
		t.Fatalf("read back at offset %d: %v", next, err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("offset %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// Readers of the tail walk chunks the committer is sealing (it writes the
// frames' CRCs without the partition lock): under a policy that shows
// queued records, a reader that follows an appender sees every record in
// order with its payload, on a store the log checks as a disk and on a
// store.Volatile one, and -race finds no byte read while it is written.
func TestTailReadersWhileSealing(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   func() store.Store
	}{{"volatile", func() store.Store { return memstore.New() }}, {"disk", func() store.Store { return diskStore{memstore.New()} }}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := openLog(t, tc.st(), wal.WithPolicy(wal.PolicyNone, time.Hour), wal.WithChunk(10, 64<<10))
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
			const n = 2000
			errs := make(chan error, 1)
			go func() {
				for i := range n {
					if err := l.Append(ctx, "t", 0, []wal.Record{{Timestamp: int64(i), Payload: []byte(fmt.Sprint("r", i))}}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
			var from int64
			for from < n {
				next, err := l.Read(ctx, "t", 0, from, n, func(e *wal.Entry) error {
					if want := fmt.Sprint("r", e.Offset); string(e.Payload) != want || e.Timestamp != e.Offset {
						return fmt.Errorf("offset %d: %q at %d, want %q", e.Offset, e.Payload, e.Timestamp, want)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("read at %d: %v", from, err)
				}
				from = next
				runtime.Gosched()
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		})
	}
}
