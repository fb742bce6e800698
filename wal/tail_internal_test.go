package wal

import (
	"slices"
	"testing"
)

// A tail keeps its backing array across commits while appends go on, and
// lets it go after an idle interval; chunks never share bytes they did
// not write.
func TestTailBufferKeptWhileBusyReleasedWhenIdle(t *testing.T) {
	var tl tail
	lim := limits{format: FormatFrames, records: 100, bytes: 64 << 10}
	rec := &Record{Timestamp: 1, Payload: make([]byte, 200)}
	tl.appendFrame(lim, rec, 0)
	snap := tl.take()
	buf := tl.buf
	tl.dropPrefix(snap)
	if tl.buf == nil || len(tl.chunks) != 0 || tl.bytes != 0 {
		t.Fatalf("after the commit: buf %v, %d chunks, %d bytes", tl.buf != nil, len(tl.chunks), tl.bytes)
	}
	tl.releaseIdle() // appended since the last call: kept
	tl.appendFrame(lim, rec, 1)
	if &tl.buf[:1][0] != &buf[:1][0] {
		t.Fatal("a busy partition got a new array")
	}
	if c := tl.chunks[0]; c.first != 1 || len(c.b) != framesHeader+frameHeaderSize+frameFixedSize+200 {
		t.Fatalf("the chunk after a commit: first %d, %d bytes", c.first, len(c.b))
	}
	if len(snap[0].b) != framesHeader+frameHeaderSize+frameFixedSize+200 {
		t.Fatal("the committed chunk grew")
	}
	tl.dropPrefix(tl.take())
	tl.releaseIdle()
	if tl.buf == nil {
		t.Fatal("released although appended to this interval")
	}
	tl.releaseIdle()
	if tl.buf != nil {
		t.Fatal("an idle empty tail kept its array")
	}
}

// A partition busy enough to reach the largest backing arrays asks for a
// spare, which an appender allocates without the lock and the next array
// is; a small partition never asks; an idle one drops its spare.
func TestTailSpareArray(t *testing.T) {
	lim := limits{format: FormatFrames, records: 100, bytes: 4 << 10, spare: true}
	rec := &Record{Timestamp: 1, Payload: make([]byte, 1000)}
	p := &partition{}
	p.tail.appendFrame(lim, rec, 0)
	if n := p.tail.wantSpare.Load(); n != 0 {
		t.Fatalf("a first small array asks for a spare of %d bytes", n)
	}
	// Fill arrays until one of the largest size is in use.
	off := int64(1)
	for cap(p.tail.buf) < 4*lim.bytes {
		p.tail.appendFrame(lim, rec, off)
		off++
	}
	want := p.tail.wantSpare.Load()
	if want < int64(4*lim.bytes) {
		t.Fatalf("the largest array asks for a spare of %d bytes, want %d", want, 4*lim.bytes)
	}
	p.fillTailSpare(false)
	if p.tail.wantSpare.Load() != 0 || cap(p.tail.spare) != int(want) {
		t.Fatalf("after fillTailSpare: want %d, spare of %d", p.tail.wantSpare.Load(), cap(p.tail.spare))
	}
	p.fillTailSpare(false) // nothing asked: nothing allocated
	spare := p.tail.spare[:1]
	full := cap(p.tail.buf)
	for cap(p.tail.buf) == full && &p.tail.buf[:1][0] != &spare[0] {
		p.tail.appendFrame(lim, rec, off)
		off++
	}
	if &p.tail.buf[:1][0] != &spare[0] || p.tail.spare != nil {
		t.Fatal("the next array is not the spare")
	}
	if p.tail.wantSpare.Load() == 0 {
		t.Fatal("the spare taken, no new one asked for")
	}
	p.fillTailSpare(false)
	p.tail.dropPrefix(p.tail.take())
	p.tail.releaseIdle()
	p.tail.releaseIdle()
	if p.tail.buf != nil || p.tail.spare != nil || p.tail.wantSpare.Load() != 0 {
		t.Fatal("an idle tail kept its arrays")
	}
}

// viewInto passes on the chunks that hold offsets from its from on, and
// all of them from a from at or before the first.
func TestTailViewIntoSkipsChunksBeforeFrom(t *testing.T) {
	var tl tail
	lim := limits{format: FormatFrames, records: 2, bytes: 64 << 10}
	rec := &Record{Timestamp: 1, Payload: []byte("x")}
	for off := int64(10); off < 15; off++ { // chunks [10,12) [12,14) [14,15)
		tl.appendFrame(lim, rec, off)
	}
	for _, tc := range []struct {
		from  int64
		first []int64
	}{{0, []int64{10, 12, 14}}, {11, []int64{10, 12, 14}}, {12, []int64{12, 14}}, {14, []int64{14}}, {15, nil}} {
		var room [1]tailChunk
		got := tl.viewInto(room[:0], tc.from)
		var firsts []int64
		for _, c := range got {
			firsts = append(firsts, c.first)
		}
		if !slices.Equal(firsts, tc.first) {
			t.Errorf("viewInto from %d: chunks at %v, want %v", tc.from, firsts, tc.first)
		}
	}
}

// An appender (urgent) allocates the spare only once the array in use is
// nearly full; until then it is left to the committer.
func TestTailSpareUrgentOnlyWhenNearlyFull(t *testing.T) {
	lim := limits{format: FormatFrames, records: 100, bytes: 4 << 10, spare: true}
	rec := &Record{Timestamp: 1, Payload: make([]byte, 100)}
	p := &partition{}
	off := int64(0)
	for cap(p.tail.buf) < 4*lim.bytes {
		p.tail.appendFrame(lim, rec, off)
		off++
	}
	p.fillTailSpare(true)
	if p.tail.spare != nil || p.tail.wantSpare.Load() == 0 {
		t.Fatal("an appender allocated the spare of an array with room")
	}
	for cap(p.tail.buf)-len(p.tail.buf) >= cap(p.tail.buf)/4 {
		p.tail.appendFrame(lim, rec, off)
		off++
	}
	p.fillTailSpare(true)
	if p.tail.spare == nil || p.tail.wantSpare.Load() != 0 || p.tail.spareUrgent.Load() {
		t.Fatal("a nearly full array got no spare from the appender")
	}
}

// Without lim.spare (a store that does not keep the arrays) a tail never
// asks for a spare.
func TestTailNoSpareUnlessAllowed(t *testing.T) {
	lim := limits{format: FormatFrames, records: 100, bytes: 4 << 10}
	rec := &Record{Timestamp: 1, Payload: make([]byte, 1000)}
	var tl tail
	for off := int64(0); off < 100; off++ {
		tl.appendFrame(lim, rec, off)
		if tl.wantSpare.Load() != 0 {
			t.Fatalf("at offset %d (array of %d bytes) a tail asked for a spare", off, cap(tl.buf))
		}
	}
}

// A spare that an appender's fillTailSpare hands over after the idle
// tail dropped its own array (it took the request before) is dropped by
// the next idle interval, not kept by the idle partition for good.
func TestTailLateSpareReleasedWhenIdle(t *testing.T) {
	lim := limits{format: FormatFrames, records: 100, bytes: 4 << 10, spare: true}
	rec := &Record{Timestamp: 1, Payload: make([]byte, 1000)}
	p := &partition{}
	off := int64(0)
	for p.tail.wantSpare.Load() == 0 {
		p.tail.appendFrame(lim, rec, off)
		off++
	}
	// The appender takes the request (fillTailSpare's CompareAndSwap) ...
	n := p.tail.wantSpare.Swap(0)
	// ... the committer finds the tail idle twice and drops its array ...
	p.tail.dropPrefix(p.tail.take())
	p.tail.releaseIdle()
	p.tail.releaseIdle()
	if p.tail.buf != nil {
		t.Fatal("an idle tail kept its array")
	}
	// ... and the appender hands its spare over.
	p.tail.spare = make([]byte, 0, n)
	p.tail.releaseIdle()
	if p.tail.spare != nil {
		t.Fatalf("an idle tail with no array keeps a spare of %d bytes", cap(p.tail.spare))
	}
}

// On a store whose committed arrays are garbage the spares held at once
// are bounded log-wide (spareBudget), not one per busy partition: a
// partition past the bound allocates its next array itself, and a spare
// taken into use, dropped when idle or by a deleted topic gives its room
// back.
func TestTailSparesBoundedAcrossPartitions(t *testing.T) {
	budget := &spareBudget{max: 2}
	parts := make([]*partition, 3)
	for i := range parts {
		parts[i] = &partition{}
		parts[i].tail.budget = budget
		parts[i].tail.wantSpare.Store(64 << 10)
		parts[i].fillTailSpare(false)
	}
	held := 0
	for _, p := range parts {
		if p.tail.spare != nil {
			held++
		}
	}
	if held != 2 || budget.held.Load() != 2 {
		t.Fatalf("%d partitions hold a spare, budget counts %d; want 2 and 2", held, budget.held.Load())
	}
	// The first idles: its spare goes, the third may have one now.
	parts[0].tail.releaseIdle()
	parts[0].tail.releaseIdle()
	if parts[0].tail.spare != nil || budget.held.Load() != 1 {
		t.Fatalf("an idle tail kept its spare (%v) or its room (%d held)", parts[0].tail.spare != nil, budget.held.Load())
	}
	parts[2].tail.wantSpare.Store(64 << 10)
	parts[2].fillTailSpare(false)
	if parts[2].tail.spare == nil || budget.held.Load() != 2 {
		t.Fatalf("room given back was not used: spare %v, %d held", parts[2].tail.spare != nil, budget.held.Load())
	}
	// The second takes its spare into use.
	lim := limits{format: FormatFrames, records: 100, bytes: 256, spare: true}
	parts[1].tail.appendFrame(lim, &Record{Timestamp: 1, Payload: make([]byte, 100)}, 0)
	if parts[1].tail.spare != nil || budget.held.Load() != 1 {
		t.Fatalf("a spare taken into use still counts: spare %v, %d held", parts[1].tail.spare != nil, budget.held.Load())
	}
	// The third's topic is deleted.
	parts[2].mu.Lock()
	parts[2].deleted = true
	parts[2].tail.dropSpare()
	parts[2].mu.Unlock()
	if budget.held.Load() != 0 {
		t.Fatalf("%d spares counted after every one went, want 0", budget.held.Load())
	}
	parts[2].tail.wantSpare.Store(64 << 10)
	parts[2].fillTailSpare(false)
	if parts[2].tail.spare != nil || budget.held.Load() != 0 {
		t.Fatal("a deleted partition was given a spare")
	}
}
