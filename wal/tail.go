package wal

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// tail holds a partition's records that are appended but not yet
// committed, already laid out as the chunks the committer will store: a
// chunk header, then frames (FormatFrames) or whole batches (FormatKafka).
// Chunks are cut as they fill (by record count and bytes), so the
// committer stores each one as it is, without copying.
//
// Bytes below a chunk's length are never written again: a copy of the
// chunk list taken under the partition lock stays valid without it, which
// is how readers (view) and the committer (take) read the tail. The last
// chunk grows in place until it is full or the committer takes it.
//
// The one exception is each frame's CRC word: the appender leaves it zero
// and the committer writes it, without the lock, once it has taken the
// chunk (sealFrames), while readers may be walking the same chunk. They
// never read that word (readTail passes verify false to readFrames, which
// reads a frame's length, fields and payload only), so no byte is read
// while it is written. A tail reader that checked a CRC or copied whole
// frames would race with the committer (frameSkippable does, but only
// after a frame failed to parse, which a frame written by Append cannot).
type tail struct {
	chunks []tailChunk
	buf    []byte // backing array of the open chunk; appends go to its end
	start  int    // where the open chunk begins in buf
	bytes  int    // bytes of every chunk, headers included
	sealed bool   // the last chunk takes no more records (the committer took it)
	grow   int    // size of the next backing array
	used   bool   // appended to since the last releaseIdle
	// spare is an empty backing array for the next one open needs, or
	// nil. A busy partition's arrays are large (4 chunks' worth), and
	// allocating one (zeroing it, faulting its pages in, perhaps a GC
	// assist) took tens of microseconds under the partition lock, which
	// every appender and the reader wait for; so open asks for the next
	// one (wantSpare) when it starts a large array, and the committer
	// allocates it after its round, off the appenders' goroutines, or an
	// appender does after releasing the lock once the array is nearly
	// full and the committer has not (partition.fillTailSpare).
	spare []byte
	// wantSpare is the size of the spare to allocate, 0 for none;
	// spareUrgent says the array in use is nearly full. Read and cleared
	// without the lock; set under it.
	wantSpare   atomic.Int64
	spareUrgent atomic.Bool
	// budget bounds the spares held at once across the log (nil: no
	// bound), set when the partition is made and never changed;
	// spareCounted, under the partition lock, says this tail's spare is
	// counted in it.
	budget       *spareBudget
	spareCounted bool
}

// maxDiskSpares is the most spare arrays (tail.spare) held at once on a
// store whose committed arrays are garbage (any but a store.Volatile
// one): each is one more array (4 chunks' worth, 256 KiB by default) of
// a busy partition, so the bound keeps that cost from growing with the
// number of busy partitions (4 MiB in all by default). A partition past
// it allocates its next array under its lock, as without spares.
const maxDiskSpares = 16

// spareBudget counts the spare arrays held across a log's partitions.
// A nil budget has no bound: on a store.Volatile store the arrays become
// the stored values, so a spare is memory the partition takes anyway.
type spareBudget struct {
	held atomic.Int64
	max  int64
}

// take reserves room for one spare, reporting whether there was any.
func (b *spareBudget) take() bool {
	if b == nil {
		return true
	}
	if b.held.Add(1) > b.max {
		b.held.Add(-1)
		return false
	}
	return true
}

// give returns the room of one spare.
func (b *spareBudget) give() {
	if b != nil {
		b.held.Add(-1)
	}
}

// dropSpare lets t's spare go and gives its room back. The caller holds
// the partition lock.
func (t *tail) dropSpare() {
	t.spare = nil
	if t.spareCounted {
		t.budget.give()
		t.spareCounted = false
	}
}

// tailChunk is one chunk of the tail.
type tailChunk struct {
	b     []byte // header and records
	first int64  // offset of the first record
	count int64  // offsets spanned
	n     int    // frames or batches in it
}

// limits are the chunk bounds the tail cuts by.
type limits struct {
	format  Format
	records int // most frames in a chunk (frames only: a batch is never split)
	bytes   int // most record bytes in a chunk (a larger batch is its own chunk)
	// spare lets a busy tail keep a spare backing array (tail.spare);
	// the log allows it on every store (Log.limits says why).
	spare bool
}

const minTailBuffer = 4 << 10

// open returns the chunk that a record of n bytes at offset off goes into,
// starting a new one (and a new backing array if needed) when the last is
// full, sealed or has no room.
func (t *tail) open(lim limits, off int64, n int, span int64) *tailChunk {
	hdr := chunkHeaderLen(lim.format)
	if k := len(t.chunks) - 1; k >= 0 && !t.sealed {
		c := &t.chunks[k]
		used := len(c.b) - hdr
		// An index entry counts a chunk's span in 32 bits.
		full := used >= lim.bytes || (lim.format == FormatFrames && c.n >= lim.records) ||
			(lim.format == FormatKafka && used+n > lim.bytes) || c.count+span > math.MaxUint32
		if !full && cap(t.buf)-len(t.buf) >= n {
			return c
		}
	}
	if cap(t.buf)-len(t.buf) < hdr+n {
		size := max(min(t.grow, 4*lim.bytes), minTailBuffer, hdr+n)
		if cap(t.spare) >= size {
			t.buf = t.spare[:0]
			t.dropSpare()
		} else {
			t.buf = make([]byte, 0, size)
		}
		// The next array doubles, up to a few chunks' worth: a busy
		// partition soon cuts whole chunks from one array, an idle one
		// costs a few KiB.
		t.grow = min(2*size, 4*lim.bytes)
		if lim.spare && size >= 4*lim.bytes && t.spare == nil {
			// Only a partition busy enough to reach the largest arrays
			// keeps a spare: one more array of memory while it stays busy
			// (releaseIdle drops it), none for the many small ones, and
			// at most maxDiskSpares across the log on a disk store.
			t.wantSpare.Store(int64(t.grow))
		}
	}
	t.start = len(t.buf)
	t.buf = appendChunkHeader(t.buf, lim.format, off)
	t.chunks = append(t.chunks, tailChunk{b: t.buf[t.start:], first: off})
	t.bytes += hdr
	t.sealed = false
	return &t.chunks[len(t.chunks)-1]
}

// fillTailSpare allocates the spare backing array p's tail asked for, if
// any (with urgent, only once the array in use is nearly full), and hands
// it over. The caller must not hold p.mu: the point is to allocate
// without it. Two callers never both allocate (the request is taken
// once); a spare that arrives after the tail found another is dropped.
func (p *partition) fillTailSpare(urgent bool) {
	n := p.tail.wantSpare.Load()
	if n == 0 || urgent && !p.tail.spareUrgent.Load() || !p.tail.wantSpare.CompareAndSwap(n, 0) {
		return
	}
	p.tail.spareUrgent.Store(false)
	if !p.tail.budget.take() {
		return // the next array is allocated under the lock, by open
	}
	b := make([]byte, 0, n)
	p.mu.Lock()
	if p.tail.spare == nil && !p.deleted {
		p.tail.spare, p.tail.spareCounted = b, p.tail.budget != nil
	} else {
		p.tail.budget.give()
	}
	p.mu.Unlock()
}

// appendFrame adds rec's frame at offset off.
func (t *tail) appendFrame(lim limits, rec *Record, off int64) {
	n := frameHeaderSize + frameFixedSize + len(rec.Payload)
	c := t.open(lim, off, n, 1)
	t.buf = appendUnsealedFrame(t.buf, rec) // the committer seals it (sealFrames)
	c.b = t.buf[t.start:]
	c.count++
	c.n++
	t.bytes += n
	t.used = true
	if room := cap(t.buf) - len(t.buf); room < cap(t.buf)/4 && t.wantSpare.Load() != 0 {
		t.spareUrgent.Store(true)
	}
}

// appendBatch copies batch in at base offset base, writing base and leader
// epoch 0 into the copy, which spans records offsets.
func (t *tail) appendBatch(lim limits, batch []byte, base int64, records int64) {
	c := t.open(lim, base, len(batch), records)
	at := len(t.buf)
	t.buf = append(t.buf, batch...)
	kbatch.SetBaseOffset(t.buf[at:], base)
	kbatch.SetLeaderEpoch(t.buf[at:], 0)
	c.b = t.buf[t.start:]
	c.count += records
	c.n++
	t.bytes += len(batch)
	t.used = true
}

// view returns the chunks as they are now, for readers.
func (t *tail) view() []tailChunk {
	if len(t.chunks) == 0 {
		return nil
	}
	return slices.Clone(t.chunks)
}

// viewInto is view for a reader from offset from: it appends to dst the
// chunks that hold offsets from there on (the ones before cannot be
// read), so that a reader with room for a few needs no allocation.
func (t *tail) viewInto(dst []tailChunk, from int64) []tailChunk {
	i := len(t.chunks)
	for i > 0 && t.chunks[i-1].first+t.chunks[i-1].count > from {
		i--
	}
	return append(dst, t.chunks[i:]...)
}

// take returns the chunks as they are now and seals the last one, so that
// what the committer stores is never extended.
func (t *tail) take() []tailChunk {
	t.sealed = true
	return t.view()
}

// dropPrefix removes the chunks of snap, an earlier take, from the front.
func (t *tail) dropPrefix(snap []tailChunk) {
	if len(snap) == 0 {
		return
	}
	for _, c := range snap {
		t.bytes -= len(c.b)
	}
	t.chunks = slices.Clone(t.chunks[len(snap):])
	if len(t.chunks) == 0 {
		// The array stays for the next appends (a busy partition cuts
		// many chunks from one); releaseIdle lets it go once the
		// partition stops.
		t.chunks = nil
	}
}

// releaseIdle drops the backing array of an empty tail that nobody
// appended to since the previous call, so that an idle partition holds
// no buffer; the next append starts small again. A spare counts too: an
// appender's fillTailSpare that took the request before the tail went
// idle hands its array over after the tail's own was dropped, and an
// idle partition would otherwise keep it for good.
func (t *tail) releaseIdle() {
	if len(t.chunks) == 0 && !t.used && (t.buf != nil || t.spare != nil) {
		t.buf, t.start, t.grow = nil, 0, 0
		t.dropSpare()
		t.wantSpare.Store(0)
		t.spareUrgent.Store(false)
	}
	t.used = false
}

// walkFrames calls fn for each frame of the frames chunks cs in order,
// with its offset; fn returns false to stop. Frames below verifyFrom are
// walked without their CRC (a reader skipping them needs only their
// length; a damaged length shows in the next checked frame). It returns
// the offset after the last frame visited and a non-empty reason if a
// frame is damaged.
func walkFrames(cs []tailChunk, verifyFrom int64, fn func(off int64, f *frameView) bool) (int64, string) {
	var off int64
	for _, c := range cs {
		off = c.first
		b := c.b[framesHeader:]
		for len(b) > 0 {
			f, n, reason := parseFrameCRC(b, off >= verifyFrom)
			if reason != "" {
				return off, reason
			}
			if !fn(off, &f) {
				return off, ""
			}
			b = b[n:]
			off++
		}
	}
	return off, ""
}

// walkStoredFrames is walkFrames over one stored frames chunk v under key
// first, whose header it checks first.
func walkStoredFrames(v []byte, first int64, fn func(off int64, f *frameView) bool) (int64, string) {
	if _, reason := checkChunkHeader(v, FormatFrames, first); reason != "" {
		return first, reason
	}
	return walkFrames([]tailChunk{{b: v, first: first}}, first, fn)
}
