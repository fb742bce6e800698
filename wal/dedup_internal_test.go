package wal

import (
	"testing"
	"time"
)

// Ids remembered without a lookup (fresh ids, recovery) are found by the
// next lookup, in either generation, with the newest position of an id
// added twice; a rotation drops the oldest generation whole.
func TestDedupPendingIDsAreFound(t *testing.T) {
	const window = time.Hour
	var d dedup
	id := func(n byte) [16]byte { return [16]byte{n, 1, 2, 3} }
	d.add(id(1), position{part: 0, offset: 10}, 100, 8)
	d.add(id(2), position{part: 1, offset: 11}, 101, 8)
	d.add(id(2), position{part: 1, offset: 12}, 102, 8) // recovery: the later one wins
	if len(d.cur.ids) != 0 || d.cur.pending.n != 3 {
		t.Fatalf("fresh ids went to the map: %d in the map, %d pending", len(d.cur.ids), d.cur.pending.n)
	}
	if pos, dup := d.seenOrAdd(id(2), position{offset: 99}, 103, window, 8); !dup || pos != (position{part: 1, offset: 12}) {
		t.Fatalf("pending id: %+v, %v", pos, dup)
	}
	if d.cur.pending.n != 0 || len(d.cur.ids) != 2 {
		t.Fatalf("after the lookup: %d in the map, %d pending", len(d.cur.ids), d.cur.pending.n)
	}
	// Fill the generation (half of 8) so that the next add rotates: id 1
	// then lives in prev, still pending-free, and is found there.
	d.add(id(3), position{offset: 13}, 104, 8)
	d.add(id(4), position{offset: 14}, 105, 8)
	d.add(id(5), position{offset: 15}, 106, 8) // rotates: 1-4 become prev
	if pos, dup := d.seenOrAdd(id(1), position{offset: 99}, 107, window, 8); !dup || pos.offset != 10 {
		t.Fatalf("id in the previous generation: %+v, %v", pos, dup)
	}
	if pos, dup := d.seenOrAdd(id(5), position{offset: 99}, 107, window, 8); !dup || pos.offset != 15 {
		t.Fatalf("pending id after a rotation: %+v, %v", pos, dup)
	}
	// Two more rotations drop ids 1-4.
	for n := byte(6); n < 14; n++ {
		d.add(id(n), position{offset: int64(n) + 10}, 108, 8)
	}
	if _, dup := d.seenOrAdd(id(1), position{offset: 99}, 109, window, 8); dup {
		t.Fatal("an id of a dropped generation was still found")
	}
	// Outside the window an id is not a duplicate.
	if _, dup := d.seenOrAdd(id(13), position{offset: 99}, 108+int64(window)+1, window, 8); dup {
		t.Fatal("an id past the window was a duplicate")
	}
}

// BenchmarkDedupFresh is the dedup cost of a publish whose message id the
// bus generated: remembering it, with no lookup.
func BenchmarkDedupFresh(b *testing.B) {
	var d dedup
	var id [16]byte
	b.ReportAllocs()
	n := int64(0)
	for b.Loop() {
		n++
		id[0], id[1], id[2], id[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		id[4] = byte(n * 31)
		d.add(id, position{offset: n}, n, 100_000)
	}
}

// The pending list spans segments: every id of a list longer than one
// segment is found after the move into the map, the later add of an id
// winning across segments, and once a generation's segments have been
// dropped and reused, remembering ids allocates nothing.
func TestDedupPendingAcrossSegments(t *testing.T) {
	const window = time.Hour
	const n = 3*pendingSegment + 5
	limit := 4 * n
	var d dedup
	id := func(i int) [16]byte { return [16]byte{byte(i), byte(i >> 8), byte(i >> 16), 7} }
	for i := range n {
		d.add(id(i), position{offset: int64(i)}, int64(i), limit)
	}
	d.add(id(3), position{offset: 999_999}, n, limit) // in the last segment; wins over the first's
	if got := len(d.cur.pending.segs); got != 4 {
		t.Fatalf("%d ids in %d segments, want 4", n+1, got)
	}
	for i := range n {
		want := int64(i)
		if i == 3 {
			want = 999_999
		}
		if pos, dup := d.seenOrAdd(id(i), position{offset: -1}, n+1, window, limit); !dup || pos.offset != want {
			t.Fatalf("id %d: %+v, %v; want offset %d", i, pos, dup, want)
		}
	}
	if d.cur.pending.n != 0 || len(d.cur.ids) != n {
		t.Fatalf("after the lookups: %d in the map, %d pending", len(d.cur.ids), d.cur.pending.n)
	}

	var r dedup
	const small = 4 * pendingSegment
	next := 0
	addOne := func() {
		r.add(id(next), position{offset: int64(next)}, int64(next), small)
		next++
	}
	for range 3 * small { // three rotations: the lists of dropped generations are reused
		addOne()
	}
	if a := testing.AllocsPerRun(small, addOne); a != 0 {
		t.Fatalf("remembering an id allocated %v times in the steady state", a)
	}
}
