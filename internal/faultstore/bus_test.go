package faultstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

const faultTopic = "fault-t"

// openFaulty opens a bus on a faultstore over a bbolt file in dir.
func openFaulty(t *testing.T, dir string) (*core.Bus, *faultstore.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "onexbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	fs := faultstore.New(st)
	bus, err := core.New(core.WithStore(fs), core.WithDurability(wal.PolicySync, 0))
	if err != nil {
		t.Fatal(err)
	}
	return bus, fs
}

// reopenLog reopens the file in dir without the wrapper and returns every
// message of faultTopic, in offset order.
func reopenLog(t *testing.T, dir string) []*core.Message {
	t.Helper()
	bus, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatalf("reopen after the fault: %v", err)
	}
	defer func() {
		if err := bus.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	msgs, err := bus.History(context.Background(), faultTopic, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// publishAcked publishes n messages named prefix-i and returns the offset
// each was acknowledged at.
func publishAcked(t *testing.T, bus *core.Bus, prefix string, n int, acked map[string]int64) {
	t.Helper()
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		off, err := bus.Publish(context.Background(), &core.Message{Topic: faultTopic, Value: []byte(v)})
		if err != nil {
			t.Fatalf("publish %s with the disk working: %v", v, err)
		}
		acked[v] = off
	}
}

// checkLog asserts the log after restart: offsets dense from 0, every
// acknowledged value at its acknowledged offset, no value twice, and
// nothing that was never published.
func checkLog(t *testing.T, msgs []*core.Message, acked map[string]int64, unacked map[string]bool) {
	t.Helper()
	seen := map[string]int64{}
	for i, m := range msgs {
		if m.Offset != int64(i) {
			t.Fatalf("after restart: message %d has offset %d (offsets must be dense from 0)", i, m.Offset)
		}
		v := string(m.Value)
		if prev, dup := seen[v]; dup {
			t.Errorf("after restart: %s stored twice (offsets %d and %d)", v, prev, m.Offset)
		}
		seen[v] = m.Offset
		if _, ok := acked[v]; !ok && !unacked[v] {
			t.Errorf("after restart: %s at %d was never published", v, m.Offset)
		}
	}
	for v, off := range acked {
		got, ok := seen[v]
		switch {
		case !ok:
			t.Errorf("acknowledged %s (offset %d) lost", v, off)
		case got != off:
			t.Errorf("acknowledged %s at offset %d, found at %d after restart", v, off, got)
		}
	}
}

// TestBusFaults injects each disk fault into one commit of a bus on a real
// bbolt file: the caller of the failed Publish sees an error wrapping
// wal.ErrCommit and the fault (ENOSPC included), the bus goes on once the
// disk works, and after a restart every acknowledged message is at the
// offset it was acknowledged with; an unacknowledged one may be there once
// (the fsync-kept case: its data is on disk) or not at all.
func TestBusFaults(t *testing.T) {
	for _, tc := range []struct {
		kind faultstore.Kind
		want error
	}{
		{faultstore.KindCommit, faultstore.ErrInjected},
		{faultstore.KindSyncLost, faultstore.ErrSync},
		{faultstore.KindSyncKept, faultstore.ErrSync},
		{faultstore.KindNoSpace, syscall.ENOSPC},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			dir := t.TempDir()
			bus, fs := openFaulty(t, dir)
			acked := map[string]int64{}
			publishAcked(t, bus, "before", 20, acked)

			// Every transaction fails until the Publish has returned: the
			// log also commits on its own (cursors, state), so "the next
			// one" could be someone else's.
			fs.Fail(faultstore.Rule{Kind: tc.kind})
			_, err := bus.Publish(context.Background(), &core.Message{Topic: faultTopic, Value: []byte("faulted")})
			fs.Clear()
			if err == nil {
				t.Fatal("Publish acknowledged a message whose commit failed")
			}
			if !errors.Is(err, wal.ErrCommit) || !errors.Is(err, tc.want) {
				t.Fatalf("Publish error %q: want it to wrap wal.ErrCommit and %v", err, tc.want)
			}
			if fs.Fired() == 0 {
				t.Fatal("no fault fired")
			}
			publishAcked(t, bus, "after", 20, acked)
			if err := bus.Close(context.Background()); err != nil {
				t.Fatalf("close after a recovered fault: %v", err)
			}
			msgs := reopenLog(t, dir)
			checkLog(t, msgs, acked, map[string]bool{"faulted": true})
			t.Logf("%s: log after restart holds %d messages (40 acknowledged, 1 failed)", tc.kind, len(msgs))
		})
	}
}

// TestBusDiskStaysFull fills the disk for many commits (ENOSPC on every
// one until it is cleared): every Publish in that time fails with ENOSPC,
// none is acknowledged, and once space is back the bus goes on and a
// restart finds every acknowledged message.
func TestBusDiskStaysFull(t *testing.T) {
	dir := t.TempDir()
	bus, fs := openFaulty(t, dir)
	acked := map[string]int64{}
	publishAcked(t, bus, "before", 10, acked)
	fs.Fail(faultstore.Rule{Kind: faultstore.KindNoSpace})
	unacked := map[string]bool{}
	for i := range 10 {
		v := fmt.Sprintf("full-%d", i)
		unacked[v] = true
		if _, err := bus.Publish(context.Background(), &core.Message{Topic: faultTopic, Value: []byte(v)}); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("publish %s on a full disk: %v, want ENOSPC", v, err)
		}
	}
	fs.Clear()
	publishAcked(t, bus, "after", 10, acked)
	if err := bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, reopenLog(t, dir), acked, unacked)
}

// TestBusStall stalls the disk: a Publish waiting on the stalled commit
// returns its context's error and is not acknowledged; once the disk
// moves again the bus goes on and nothing acknowledged is lost.
func TestBusStall(t *testing.T) {
	dir := t.TempDir()
	bus, fs := openFaulty(t, dir)
	acked := map[string]int64{}
	publishAcked(t, bus, "before", 5, acked)
	release := fs.Stall()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := bus.Publish(ctx, &core.Message{Topic: faultTopic, Value: []byte("stalled")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		release()
		t.Fatalf("publish on a stalled disk: %v, want context.DeadlineExceeded", err)
	}
	release()
	publishAcked(t, bus, "after", 5, acked)
	if err := bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, reopenLog(t, dir), acked, map[string]bool{"stalled": true})
}

// TestBusLatency adds latency to every transaction: publishes are slower
// and every one is still acknowledged and found after restart.
func TestBusLatency(t *testing.T) {
	dir := t.TempDir()
	bus, fs := openFaulty(t, dir)
	fs.SetLatency(5 * time.Millisecond)
	acked := map[string]int64{}
	publishAcked(t, bus, "slow", 10, acked)
	if err := bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, reopenLog(t, dir), acked, nil)
}

// TestBusSyncLostNotServed: while every fsync fails (the pages never
// reach the disk), the bus acknowledges nothing and serves nothing it did
// not persist: the failed message is in neither History, Fetch nor a
// subscriber's deliveries, however many times the log retries its commit.
// Once the disk works the queued message is committed (it was never
// acknowledged: at-least-once allows it to appear once) and only then
// delivered; a restart finds every acknowledged message.
func TestBusSyncLostNotServed(t *testing.T) {
	dir := t.TempDir()
	bus, fs := openFaulty(t, dir)
	acked := map[string]int64{}
	publishAcked(t, bus, "before", 5, acked)
	delivered := make(chan string, 16)
	if _, err := bus.Subscribe(context.Background(), faultTopic, "g", func(_ context.Context, m *core.Message) error {
		delivered <- string(m.Value)
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case v := <-delivered:
			if _, ok := acked[v]; !ok {
				t.Fatalf("delivered %s, never published", v)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the acknowledged messages were not delivered within 30s")
		}
	}

	fs.Fail(faultstore.Rule{Kind: faultstore.KindSyncLost})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := bus.Publish(ctx, &core.Message{Topic: faultTopic, Value: []byte("faulted")})
	cancel()
	if err == nil {
		t.Fatal("Publish acknowledged a message whose fsync failed")
	}
	if !errors.Is(err, wal.ErrCommit) || !errors.Is(err, faultstore.ErrSync) {
		t.Fatalf("Publish error %q: want it to wrap wal.ErrCommit and faultstore.ErrSync", err)
	}
	// The log retries the queued record at every tick: let it fail a few
	// more times, then look at everything a reader can see.
	fired := fs.Fired()
	testutil.Eventually(t, 30*time.Second, func() bool { return fs.Fired() >= fired+3 }, "the log retrying its commit")
	msgs, err := bus.History(context.Background(), faultTopic, 100)
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := bus.Fetch(context.Background(), faultTopic, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(msgs, fetched...) {
		if string(m.Value) == "faulted" {
			t.Fatalf("the bus serves %q at offset %d while its fsync keeps failing", m.Value, m.Offset)
		}
	}
	select {
	case v := <-delivered:
		t.Fatalf("delivered %q while the fsync keeps failing", v)
	default:
	}

	fs.Clear()
	select {
	case v := <-delivered:
		if v != "faulted" {
			t.Fatalf("after the disk recovered: delivered %q, want the queued message", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the queued message was not committed and delivered within 30s of the disk recovering")
	}
	publishAcked(t, bus, "after", 5, acked)
	if err := bus.Close(context.Background()); err != nil {
		t.Fatalf("close after a recovered fault: %v", err)
	}
	checkLog(t, reopenLog(t, dir), acked, map[string]bool{"faulted": true})
}
