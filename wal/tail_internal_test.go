package wal

import "testing"

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
