package bench

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// slabRecords is how many records' headers a headerMaker allocates at
// once.
const slabRecords = 1024

// headerMaker writes the ONEX headers of one record after another as a
// kgo program producing ONEX events must: each record its own
// message_id and correlation_id (UUIDv4 text, from a ChaCha8 seeded from
// crypto/rand, the bus's kind of generator) and its own timestamp
// (time.Now, RFC 3339 in UTC with nanoseconds, as the forwarder writes
// it), the other headers as in the template. The text is written as the
// forwarder writes it (hex pairs from a table, the date and time of day
// formatted once a second), not with encoding/hex and time.AppendFormat,
// which cost this reference about 1,800 instructions a record more than
// the forwarder's encoder (cachegrind). Headers and their bytes are
// cut from slabs of slabRecords records that are used again once every
// record cut from them has had its promise (kgo touches a record no more
// after it), as the forwarder reuses its batches' slabs: no allocation
// per record. next and done are safe for concurrent use with each other
// (done runs in kgo's promises); next is for one producing goroutine.
type headerMaker struct {
	template []kgo.RecordHeader
	rng      *rand.ChaCha8
	sec      int64  // the second secText is of
	secText  []byte // "2006-01-02T15:04:05" of sec
	cur      *headerSlab
	free     sync.Pool // *headerSlab whose records all had their promise
}

// headerSlab holds the headers of up to slabRecords records.
type headerSlab struct {
	hdrs []kgo.RecordHeader
	buf  []byte
	// left counts the records cut from the slab without their promise
	// yet, plus one while next still cuts from it; whoever brings it to
	// zero frees the slab.
	left atomic.Int32
}

func newHeaderMaker(template []kgo.RecordHeader) *headerMaker {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand.Read's doc)
	return &headerMaker{template: template, rng: rand.NewChaCha8(seed)}
}

// perRecordBytes bounds what next writes for one record: two UUIDs and
// a timestamp (at most 35 bytes).
const perRecordBytes = 36 + 36 + 40

// next returns the headers of the next record and the slab they are cut
// from, to give to done once the record's promise ran.
func (m *headerMaker) next() ([]kgo.RecordHeader, *headerSlab) {
	n := len(m.template)
	sl := m.cur
	if sl == nil || cap(sl.hdrs)-len(sl.hdrs) < n || cap(sl.buf)-len(sl.buf) < perRecordBytes {
		if sl != nil {
			m.done(sl) // next cuts no more from it
		}
		sl, _ = m.free.Get().(*headerSlab)
		if sl == nil {
			sl = &headerSlab{hdrs: make([]kgo.RecordHeader, 0, n*slabRecords), buf: make([]byte, 0, perRecordBytes*slabRecords)}
		}
		sl.hdrs, sl.buf = sl.hdrs[:0], sl.buf[:0]
		sl.left.Store(1)
		m.cur = sl
	}
	sl.left.Add(1)
	h := append(sl.hdrs[len(sl.hdrs):len(sl.hdrs):len(sl.hdrs)+n], m.template...)
	sl.hdrs = sl.hdrs[:len(sl.hdrs)+n]
	for i := range h {
		s := len(sl.buf)
		switch h[i].Key {
		case core.HeaderMessageID, core.HeaderCorrelationID:
			sl.buf = appendUUID(sl.buf, m.uuid())
		case core.HeaderTimestamp:
			sl.buf = m.appendTimestamp(sl.buf, time.Now())
		default:
			continue
		}
		h[i].Value = sl.buf[s:len(sl.buf):len(sl.buf)]
	}
	return h, sl
}

// done says a record cut from sl had its promise (or that next cuts no
// more from sl).
func (m *headerMaker) done(sl *headerSlab) {
	if sl != nil && sl.left.Add(-1) == 0 {
		m.free.Put(sl)
	}
}

// uuid is a random (version 4, RFC 4122 variant) UUID.
func (m *headerMaker) uuid() uuid.UUID {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], m.rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], m.rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// hexPairs holds the two lower-case hex digits of every byte value.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&15]}
	}
	return t
}()

// appendUUID appends u's 8-4-4-4-12 text (uuid.UUID.String).
func appendUUID(dst []byte, u uuid.UUID) []byte {
	s := len(dst)
	dst = slices.Grow(dst, 36)[:s+36]
	out := dst[s : s+36 : s+36]
	putHex(out[0:8], u[0:4])
	out[8] = '-'
	putHex(out[9:13], u[4:6])
	out[13] = '-'
	putHex(out[14:18], u[6:8])
	out[18] = '-'
	putHex(out[19:23], u[8:10])
	out[23] = '-'
	putHex(out[24:36], u[10:16])
	return dst
}

// putHex writes the hex digits of src into dst (2*len(src) bytes).
func putHex(dst, src []byte) {
	for i, b := range src {
		p := &hexPairs[b]
		dst[2*i], dst[2*i+1] = p[0], p[1]
	}
}

// appendTimestamp appends t in UTC as time.RFC3339Nano writes it, the
// date and time of day formatted once a second.
func (m *headerMaker) appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if sec := t.Unix(); sec != m.sec || m.secText == nil {
		m.sec, m.secText = sec, t.AppendFormat(m.secText[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, m.secText...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// TestHeaderMakerText: the UUID and timestamp text is uuid.UUID.String's
// and time.RFC3339Nano's in UTC, byte for byte.
func TestHeaderMakerText(t *testing.T) {
	m := newHeaderMaker(nil)
	for range 1000 {
		u := m.uuid()
		if got := string(appendUUID([]byte("x"), u)); got != "x"+u.String() {
			t.Fatalf("appendUUID = %q, want x%s", got, u)
		}
	}
	base := time.Date(2026, 12, 1, 23, 59, 59, 0, time.FixedZone("x", 3600))
	for _, ns := range []int{0, 1, 10, 100_000, 120_000_000, 999_999_999, 500_000_000, 123_456_789} {
		for _, ts := range []time.Time{base.Add(time.Duration(ns)), base.Add(time.Second + time.Duration(ns))} {
			want := ts.UTC().Format(time.RFC3339Nano)
			if got := string(m.appendTimestamp(nil, ts)); got != want {
				t.Errorf("appendTimestamp(%v) = %q, want %q", ts, got, want)
			}
		}
	}
}

// TestHeaderMakerKeepsHeldRecords: a record's headers are never written
// over while its promise has not run, however many records follow, and
// every record gets ids of its own; slabs whose records all had their
// promise are used again (the bytes of those records may change then).
func TestHeaderMakerKeepsHeldRecords(t *testing.T) {
	template := []kgo.RecordHeader{
		{Key: core.HeaderCorrelationID, Value: []byte("c")}, {Key: core.HeaderMessageID, Value: []byte("m")},
		{Key: core.HeaderTimestamp, Value: []byte("t")}, {Key: core.HeaderSource, Value: []byte("onexbus")},
	}
	m := newHeaderMaker(template)
	type held struct {
		h    []kgo.RecordHeader
		text []string
		sl   *headerSlab
	}
	var all []held
	seen := map[string]bool{}
	for i := range 3*slabRecords + 7 {
		h, sl := m.next()
		r := held{h: h, sl: sl}
		for j, x := range h {
			if x.Key != template[j].Key {
				t.Fatalf("record %d header %d: key %q, want %q", i, j, x.Key, template[j].Key)
			}
			r.text = append(r.text, string(x.Value))
		}
		for _, id := range r.text[:2] {
			if _, err := uuid.Parse(id); err != nil || seen[id] {
				t.Fatalf("record %d: id %q (%v, seen before %v)", i, id, err, seen[id])
			}
			seen[id] = true
		}
		if _, err := time.Parse(time.RFC3339Nano, r.text[2]); err != nil || r.text[3] != "onexbus" {
			t.Fatalf("record %d: %q", i, r.text)
		}
		if i%2 == 0 { // every other record's promise runs at once
			m.done(sl)
			continue
		}
		all = append(all, r)
	}
	for i, r := range all {
		for j, x := range r.h {
			if string(x.Value) != r.text[j] {
				t.Fatalf("held record %d header %d changed: %q, was %q", i, j, x.Value, r.text[j])
			}
		}
		m.done(r.sl)
	}
	for range slabRecords {
		m.next()
	}
}
