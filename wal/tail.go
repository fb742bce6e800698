package wal

import "slices"

// tail holds a partition's frames that are appended but not yet committed,
// in segments of about segmentSize bytes, so that appending never copies
// what is already queued. Bytes below a segment's length are never written
// again: a snapshot taken under the partition lock stays valid without it,
// which is how readers and the committer read the tail.
type tail struct {
	segs  [][]byte
	bytes int
	grow  int // capacity of the next segment (0: minSegment)
}

// minSegment is the capacity of a partition's first segment. Segments
// double from it up to the segment size, so a partition that only ever
// holds a record or two costs 4 KiB, not a whole chunk's worth (the
// memory store keeps chunks aliasing their segment). Chunks never span
// segments, so it is also the smallest chunk a busy partition writes
// after an open.
const minSegment = 4 << 10

// append adds rec's frame, starting a new segment when the last one is
// full: twice the previous one's capacity, up to segmentSize (and never
// smaller than the frame).
func (t *tail) append(rec *Record, segmentSize int) {
	n := frameHeaderSize + frameFixedSize + len(rec.Payload)
	last := len(t.segs) - 1
	if last < 0 || cap(t.segs[last])-len(t.segs[last]) < n {
		size := min(max(t.grow, minSegment), segmentSize)
		t.grow = min(2*size, segmentSize)
		t.segs = append(t.segs, make([]byte, 0, max(size, n)))
		last++
	}
	t.segs[last] = appendFrame(t.segs[last], rec)
	t.bytes += n
}

// snapshot returns the segments as they are now.
func (t *tail) snapshot() [][]byte {
	if t.bytes == 0 {
		return nil
	}
	return slices.Clone(t.segs)
}

// dropPrefix removes the bytes of snap, an earlier snapshot, from the front.
func (t *tail) dropPrefix(snap [][]byte) {
	if len(snap) == 0 {
		return
	}
	k := len(snap) - 1
	for _, s := range snap {
		t.bytes -= len(s)
	}
	// Segments before k are gone whole; segment k keeps what was appended
	// after the snapshot and its spare capacity for more.
	rest := append([][]byte(nil), t.segs[k:]...)
	rest[0] = rest[0][len(snap[k]):]
	if len(rest) == 1 && len(rest[0]) == 0 && cap(rest[0]) == 0 {
		rest = nil
	}
	t.segs = rest
}

// walkFrames calls fn for each frame of segs in order, with its offset
// (counting from base); fn returns false to stop. It returns the offset
// after the last frame visited and a non-empty reason if a frame is
// damaged.
func walkFrames(segs [][]byte, base int64, fn func(off int64, f *frameView) bool) (int64, string) {
	off := base
	for _, b := range segs {
		for len(b) > 0 {
			f, n, reason := parseFrame(b)
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
