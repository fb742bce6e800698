package wal

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// windowHarness drives admitProducerLocked the way AppendBatch does: the
// partition's next offset is the base of an admitted batch, which then
// takes LastOffsetDelta+1 offsets.
type windowHarness struct {
	t   *testing.T
	l   *Log
	p   *partition
	now time.Time
}

func newWindowHarness(t *testing.T) *windowHarness {
	h := &windowHarness{t: t, p: newPartition("t", 0, FormatKafka), now: time.UnixMilli(1_700_000_000_000)}
	h.l = &Log{cfg: defaultConfig()}
	h.l.cfg.now = func() time.Time { return h.now }
	return h
}

// send offers a batch of n records; it returns the base offset the
// batch got (or its original's), whether it was a duplicate, and the
// refusal.
func (h *windowHarness) send(pid int64, epoch int16, seq int32, n int32) (int64, bool, error) {
	hdr := kbatch.Header{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	base, dup, err := h.l.admitProducerLocked(h.p, &hdr, h.p.next)
	if err == nil && !dup {
		if base != h.p.next {
			h.t.Fatalf("admitted at %d, the partition's next offset is %d", base, h.p.next)
		}
		h.p.next += int64(n)
	}
	return base, dup, err
}

// accept sends a batch that must be appended, returning its base.
func (h *windowHarness) accept(pid int64, epoch int16, seq, n int32) int64 {
	h.t.Helper()
	base, dup, err := h.send(pid, epoch, seq, n)
	if err != nil || dup {
		h.t.Fatalf("batch pid %d epoch %d seq %d+%d: dup %v, %v; want appended", pid, epoch, seq, n, dup, err)
	}
	return base
}

// duplicate sends a batch that must be answered with want.
func (h *windowHarness) duplicate(pid int64, epoch int16, seq, n int32, want int64) {
	h.t.Helper()
	base, dup, err := h.send(pid, epoch, seq, n)
	if err != nil || !dup || base != want {
		h.t.Fatalf("retry pid %d epoch %d seq %d+%d: base %d, dup %v, %v; want the original at %d", pid, epoch, seq, n, base, dup, err, want)
	}
}

// refuse sends a batch that must be refused with want.
func (h *windowHarness) refuse(pid int64, epoch int16, seq, n int32, want error) {
	h.t.Helper()
	next := h.p.next
	_, dup, err := h.send(pid, epoch, seq, n)
	if !errors.Is(err, want) || dup {
		h.t.Fatalf("batch pid %d epoch %d seq %d+%d: dup %v, %v; want %v", pid, epoch, seq, n, dup, err, want)
	}
	if h.p.next != next {
		h.t.Fatal("a refused batch took offsets")
	}
}

// TestProducerWindowDuplicates: a retry of each of the last 5 batches is
// answered with its original base offset, whatever the order; a batch
// pushed out of the window is no longer recognised.
func TestProducerWindowDuplicates(t *testing.T) {
	for slot := range producerWindowSize {
		h := newWindowHarness(t)
		var bases []int64
		for i := range int32(6) {
			bases = append(bases, h.accept(7, 0, i*3, 3))
		}
		// Batches 1..5 are in the window (batch 0 was pushed out).
		h.duplicate(7, 0, int32(slot+1)*3, 3, bases[slot+1])
		// A duplicate does not move the window: the next batch still fits.
		if slot == producerWindowSize-1 {
			h.refuse(7, 0, 0, 3, ErrOutOfOrderSequence) // batch 0, past the window
			h.accept(7, 0, 18, 1)
		}
	}
}

// TestProducerWindowRules: gaps, epochs, unknown producers, wrapping.
func TestProducerWindowRules(t *testing.T) {
	t.Run("gap", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(1, 0, 0, 5)
		h.refuse(1, 0, 6, 1, ErrOutOfOrderSequence)
		h.refuse(1, 0, 4, 1, ErrOutOfOrderSequence) // overlaps, not a duplicate
		h.refuse(1, 0, 0, 4, ErrOutOfOrderSequence) // same start, other length
		h.accept(1, 0, 5, 1)                        // the refusals left the window as it was
	})
	t.Run("unknown producer accepts any first sequence", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(2, 3, 1234, 2)
		h.accept(2, 3, 1236, 1)
		h.accept(3, 0, 99, 1) // producers are independent
	})
	t.Run("stale epoch", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(1, 5, 0, 1)
		h.refuse(1, 4, 1, 1, ErrInvalidProducerEpoch)
		h.refuse(1, 4, 0, 1, ErrInvalidProducerEpoch) // even a retry of an older epoch's batch
	})
	t.Run("epoch bump only with sequence 0", func(t *testing.T) {
		h := newWindowHarness(t)
		first := h.accept(1, 0, 0, 2)
		h.accept(1, 0, 2, 2)
		h.refuse(1, 1, 4, 1, ErrOutOfOrderSequence)
		bumped := h.accept(1, 1, 0, 2)
		h.duplicate(1, 1, 0, 2, bumped)
		h.refuse(1, 0, 0, 2, ErrInvalidProducerEpoch) // the old epoch's batch at first
		h.accept(1, 1, 2, 1)
		if first == bumped {
			t.Fatal("the new epoch's batch was taken for the old one")
		}
	})
	t.Run("sequence wraps at MaxInt32", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(1, 0, math.MaxInt32-1, 3) // MaxInt32-1, MaxInt32, 0
		h.refuse(1, 0, 0, 1, ErrOutOfOrderSequence)
		wrapped := h.accept(1, 0, 1, 1)
		h.accept(1, 0, 2, math.MaxInt32-1) // 2 .. MaxInt32
		h.accept(1, 0, 0, 1)               // and round again
		h.duplicate(1, 0, 1, 1, wrapped)
	})
	t.Run("idle producer expires", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(1, 0, 0, 1)
		h.now = h.now.Add(23 * time.Hour)
		h.refuse(1, 0, 10, 1, ErrOutOfOrderSequence)
		h.accept(1, 0, 1, 1)
		h.now = h.now.Add(24*time.Hour + time.Millisecond)
		h.accept(1, 0, 500, 1) // forgotten: as unknown
	})
	t.Run("negative epoch or sequence", func(t *testing.T) {
		h := newWindowHarness(t)
		h.refuse(1, -1, 0, 1, ErrInvalidProducerEpoch)
		h.refuse(1, 0, -1, 1, ErrOutOfOrderSequence)
	})
	t.Run("no producer", func(t *testing.T) {
		h := newWindowHarness(t)
		h.accept(-1, -1, -1, 3)
		h.accept(-1, -1, -1, 3) // never a duplicate
		if h.p.prod.dirtyLocked() {
			t.Fatal("a batch without a producer id changed producer state")
		}
	})
}

// TestProducerExpiryForgetsIdleProducers: the committer's expiry pass
// drops idle windows and marks them for deletion from the store.
func TestProducerExpiryForgetsIdleProducers(t *testing.T) {
	h := newWindowHarness(t)
	h.accept(1, 0, 0, 1)
	h.now = h.now.Add(time.Hour)
	h.accept(2, 0, 0, 1)
	h.p.snapshotProducersLocked()
	h.p.producersCommitted(true)
	h.now = h.now.Add(24*time.Hour - time.Minute)
	h.p.mu.Lock()
	expired := h.l.expireProducersLocked(h.p, h.now.UnixMilli())
	h.p.mu.Unlock()
	if !expired || h.p.prod.windows[1] != nil || h.p.prod.windows[2] == nil {
		t.Fatalf("after 25h and 24h of idleness: windows %v", h.p.prod.windows)
	}
	h.p.snapshotProducersLocked()
	if len(h.p.prod.inCommit) != 1 || h.p.prod.inCommit[0].pid != 1 || h.p.prod.inCommit[0].value != nil {
		t.Fatalf("the next commit writes %+v; want the deletion of producer 1", h.p.prod.inCommit)
	}
}

// TestProducerWindowEncoding: stored windows round-trip; damage is
// reported, never misread.
func TestProducerWindowEncoding(t *testing.T) {
	w := &producerWindow{epoch: 3, lastAt: 12345, n: 2}
	w.batches[0] = seqBatch{first: 0, last: 4, base: 100}
	w.batches[1] = seqBatch{first: 5, last: math.MaxInt32, base: 105}
	key := producerKey(producerPrefix("t", 2), 77)
	b := encodeProducerWindow(key, w)
	got, reason := decodeProducerWindow(key, b)
	if reason != "" || *got != *w {
		t.Fatalf("round trip: %+v, %q; want %+v", got, reason, w)
	}
	if _, reason := decodeProducerWindow(producerKey(producerPrefix("t", 2), 78), b); reason != "CRC mismatch" {
		t.Fatalf("under another key: %q", reason)
	}
	for i := range len(b) {
		for bit := range 8 {
			d := append([]byte(nil), b...)
			d[i] ^= 1 << bit
			if _, reason := decodeProducerWindow(key, d); reason == "" {
				t.Fatalf("flip of bit %d of byte %d passed", bit, i)
			}
		}
	}
	for n := range len(b) {
		if _, reason := decodeProducerWindow(key, b[:n]); reason == "" {
			t.Fatalf("%d of %d bytes passed", n, len(b))
		}
	}
}
