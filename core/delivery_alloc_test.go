package core

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// A delivered frame costs one allocation for its message, first handler
// context and the bytes of its Key and Value, sized to a class of
// Go's allocator: no room class rounds up past the allocator's own class
// (the 8-byte object header counted), and a key and value beyond the
// largest class get their own allocation. Key and Value are copies cut at
// their lengths: nothing a handler does to one reaches the other or the
// log's bytes.
func TestDecodeAllocatesOnce(t *testing.T) {
	b := memBus(t)
	l := &loop{bus: b, topic: "t1", part: 0}
	// class is the allocator's size class the decode should take.
	for _, tc := range []struct {
		key, value int
		allocs     float64
		class      int
	}{
		{0, 0, 1, 576},
		{0, 1, 1, 576},
		{5, 40, 1, 576},
		{0, 80, 1, 576},
		{0, 81, 1, 640},
		{0, 256, 1, 768},
		{19, 256, 1, 896},
		{0, 1040, 1, 1536},
		{0, 1041, 1, 2048},
		{0, 3500, 1, 4096},
		{0, 5000, 2, 0},
	} {
		t.Run(fmt.Sprintf("key=%d/value=%d", tc.key, tc.value), func(t *testing.T) {
			m := Message{Topic: "t1", Value: bytes.Repeat([]byte{'v'}, tc.value), Timestamp: time.Unix(1700000000, 5).UTC()}
			if tc.key > 0 {
				m.Key = bytes.Repeat([]byte{'k'}, tc.key)
			}
			m.Headers.ApplyDefaults(m.Topic, b.cfg.source, m.Timestamp)
			env := recordEnvelope(&m)
			e := &wal.Entry{Offset: 7, Timestamp: env.Timestamp, MessageID: env.MessageID, CorrelationID: env.CorrelationID,
				Payload: message.AppendRecord(nil, &m, env)}
			stored := bytes.Clone(e.Payload)

			if got := testing.AllocsPerRun(100, func() { l.decode(e) }); got != tc.allocs {
				t.Fatalf("%v allocations per decode, want %v", got, tc.allocs)
			}
			if tc.class > 0 {
				const runs = 1000
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range runs {
					l.decode(e)
				}
				runtime.ReadMemStats(&after)
				// Other goroutines of the bus may allocate a little meanwhile.
				if per := int(after.TotalAlloc-before.TotalAlloc) / runs; per < tc.class || per > tc.class+16 {
					t.Fatalf("%d bytes per decode, want the %d-byte size class", per, tc.class)
				}
			}

			it, ok := l.decode(e)
			got := it.Message
			if !ok {
				t.Fatal("a frame decoded as no message")
			}
			if it.undecodable != nil || got.Offset != 7 || !bytes.Equal(got.Key, m.Key) || !bytes.Equal(got.Value, m.Value) ||
				got.Headers.MessageID != m.Headers.MessageID || !got.Timestamp.Equal(m.Timestamp) {
				t.Fatalf("decoded %+v (%v), want %+v", got, it.undecodable, m)
			}
			if cap(got.Key) != len(got.Key) || cap(got.Value) != len(got.Value) {
				t.Fatalf("key cap %d len %d, value cap %d len %d: an append could write past them",
					cap(got.Key), len(got.Key), cap(got.Value), len(got.Value))
			}
			for i := range got.Key {
				got.Key[i] = 'X'
			}
			for i := range got.Value {
				got.Value[i] = 'Y'
			}
			got.Key = append(got.Key, "appended"...)
			if !bytes.Equal(e.Payload, stored) {
				t.Fatal("changing the delivered message changed the log's bytes")
			}
			if again, _ := l.decode(e); !bytes.Equal(again.Message.Key, m.Key) || !bytes.Equal(again.Message.Value, m.Value) {
				t.Fatalf("the next decode gives key %q value %q", again.Message.Key, again.Message.Value)
			}
		})
	}
}

// RecordDataLen reads the room a record needs from its first fields, and
// gives -1 for what it cannot read (then the decoder allocates, and
// reports any damage itself).
func TestRecordDataLenSizesRoom(t *testing.T) {
	m := Message{Topic: "t1", Key: []byte("key"), Value: []byte("value")}
	m.Headers.ApplyDefaults(m.Topic, "src", time.Now())
	rec := message.AppendRecord(nil, &m, recordEnvelope(&m))
	if n := message.RecordDataLen(rec); n != 8 {
		t.Fatalf("RecordDataLen %d, want 8", n)
	}
	for _, bad := range [][]byte{nil, {}, {1, 2, 3}, rec[:3], {2}} {
		if n := message.RecordDataLen(bad); n != -1 {
			t.Fatalf("RecordDataLen(%x) = %d, want -1", bad, n)
		}
	}
	d, room := newDecoded(-1)
	if d == nil || room != nil {
		t.Fatal("an unknown length must get no room")
	}
	if _, room := newDecoded(1 << 20); room != nil {
		t.Fatal("a length past the largest class must get no room")
	}
}
