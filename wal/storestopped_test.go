package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// lockedBuffer is a log output safe for the committer's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestStoreStoppedLoggedOnce: once the store refuses writes until
// reopened, every append fails with that error, and the log says so
// once, not at every commit the appends kick.
func TestStoreStoppedLoggedOnce(t *testing.T) {
	st := testutil.NewStoppingStore(memstore.New())
	var out lockedBuffer
	l := openLog(t, st, wal.WithLogger(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Error})))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	st.Stopped.Store(true)
	for i := range 5 {
		err := l.Append(context.Background(), "t", 0, []wal.Record{{Payload: []byte(fmt.Sprint(i))}})
		if !errors.Is(err, store.ErrCommitFailed) {
			t.Fatalf("append %d with the store stopped: %v, want ErrCommitFailed", i, err)
		}
	}
	if n := strings.Count(out.String(), "the store stopped writes"); n != 1 {
		t.Fatalf("%d log lines about the stopped store, want 1:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "records stay queued") {
		t.Fatalf("a stopped store logged as a retriable commit failure:\n%s", out.String())
	}
}
