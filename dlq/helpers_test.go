package dlq_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/store/memory"
)

// backends are the stores every queue test runs on.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memory", func(t *testing.T) store.Store { return memory.New() }},
	{"bolt", func(t *testing.T) store.Store {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "dlq.db"))
		if err != nil {
			t.Fatalf("bolt.Open: %v", err)
		}
		return st
	}},
}

// eachStore runs fn on a fresh store of every backend.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			fn(t, st)
		})
	}
}

// open opens a queue on st and registers checkInvariants for the end of
// the test, so every test is also a consistency check.
func open(t *testing.T, st store.Store, opts ...dlq.Option) *dlq.Queue {
	t.Helper()
	q, err := dlq.Open(st, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { checkInvariants(t, st) })
	return q
}

// checkInvariants checks what every queue keeps true: every letter
// decodes, the stored count is the number of letters, and the next id is
// past every letter.
func checkInvariants(t *testing.T, st store.Store) {
	t.Helper()
	err := st.View(func(tx store.Tx) error {
		letters, meta := tx.Bucket(dlq.BucketLetters), tx.Bucket(dlq.BucketMeta)
		if letters == nil || meta == nil {
			t.Errorf("invariants: buckets missing")
			return nil
		}
		origins := tx.Bucket(dlq.BucketOrigins)
		var n, last uint64
		c := letters.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			last = binary.BigEndian.Uint64(k)
			l, err := dlq.DecodeLetter(last, v)
			if err != nil {
				t.Errorf("invariants: %v", err)
				continue
			}
			if l.Offset >= 0 && !bytes.Equal(origins.Get(dlq.OriginKey(&l)), k) {
				t.Errorf("invariants: letter %d is not in the origin index", last)
			}
		}
		var count uint64 // absent until the first letter
		if v := meta.Get([]byte("count")); v != nil {
			count = binary.BigEndian.Uint64(v)
		}
		if count != n {
			t.Errorf("invariants: count %d, letters %d", count, n)
		}
		if next := meta.Get([]byte("next")); next != nil && binary.BigEndian.Uint64(next) <= last {
			t.Errorf("invariants: next %d not past last letter %d", binary.BigEndian.Uint64(next), last)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("invariants: %v", err)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// letter returns a letter with every field set, told apart by i.
func letter(topic, group string, i int) *dlq.Letter {
	return &dlq.Letter{
		Topic:          topic,
		Partition:      int32(i % 3),
		Offset:         int64(100 + i),
		Key:            []byte{'k', byte('0' + i%10)},
		Value:          []byte(`{"n":` + string(rune('0'+i%10)) + `}`),
		Headers:        []dlq.Header{{Key: "correlation_id", Value: "c0ffee00-0000-4000-8000-00000000000" + string(rune('0'+i%10))}, {Key: "event_type", Value: topic}},
		Group:          group,
		Attempts:       3,
		Error:          "handler: boom " + string(rune('a'+i%26)),
		FirstFailure:   t0.Add(time.Duration(i) * time.Minute),
		LastFailure:    t0.Add(time.Duration(i)*time.Minute + 30*time.Second),
		DeadLetteredAt: t0.Add(time.Duration(i) * time.Hour),
		DLQTopic:       "onex.dlq." + topic,
	}
}

// add adds l and fails the test on error.
func add(t *testing.T, q *dlq.Queue, l *dlq.Letter) uint64 {
	t.Helper()
	id, err := q.Add(context.Background(), l)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return id
}

// sameLetter reports whether a and b are equal, times compared with Equal.
func sameLetter(a, b dlq.Letter) bool {
	if !a.FirstFailure.Equal(b.FirstFailure) || !a.LastFailure.Equal(b.LastFailure) || !a.DeadLetteredAt.Equal(b.DeadLetteredAt) {
		return false
	}
	a.FirstFailure, a.LastFailure, a.DeadLetteredAt = time.Time{}, time.Time{}, time.Time{}
	b.FirstFailure, b.LastFailure, b.DeadLetteredAt = time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// ids returns the ids of ls.
func ids(ls []dlq.Letter) []uint64 {
	out := make([]uint64, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

// corrupt flips a byte in the middle of letter id's stored value.
func corrupt(t *testing.T, st store.Store, id uint64) {
	t.Helper()
	err := st.Update(func(tx store.Tx) error {
		b := tx.Bucket(dlq.BucketLetters)
		k := binary.BigEndian.AppendUint64(nil, id)
		v := bytes.Clone(b.Get(k))
		v[len(v)/2] ^= 0x20
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatalf("corrupt letter %d: %v", id, err)
	}
}
