package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// kafkaBackends runs fn on the memory store and on a bbolt file; reopen
// gives a new bus over the same data (after closing the previous one).
func kafkaBackends(t *testing.T, fn func(t *testing.T, reopen func() *Bus)) {
	t.Run("memory", func(t *testing.T) {
		st := memstore.New()
		var last *Bus
		fn(t, func() *Bus {
			if last != nil {
				_ = last.Close(context.Background())
			}
			b, err := New(WithStore(nopCloseStore{st}), WithDurability(DurabilityNone, 0))
			if err != nil {
				t.Fatal(err)
			}
			last = b
			t.Cleanup(func() { _ = b.Close(context.Background()) })
			return b
		})
	})
	t.Run("bolt", func(t *testing.T) {
		dir := t.TempDir()
		var last *Bus
		fn(t, func() *Bus {
			if last != nil {
				if err := last.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			st, err := bolt.Open(filepath.Join(dir, "bus.db"), bolt.WithTimeout(0))
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(WithStore(st))
			if err != nil {
				t.Fatal(err)
			}
			last = b
			t.Cleanup(func() { _ = b.Close(context.Background()) })
			return b
		})
	})
}

// nopCloseStore keeps a memory store's data across a bus Close.
type nopCloseStore struct{ store.Store }

func (nopCloseStore) Close() error { return nil }

func createKafkaTopic(t *testing.T, b *Bus, name string, parts int32) {
	t.Helper()
	if _, err := b.CreateTopic(context.Background(), name, TopicConfig{Partitions: parts, Format: FormatKafka}); err != nil {
		t.Fatal(err)
	}
}

// fullMessage has every header set.
func fullMessage(topic string) *Message {
	m := &Message{Topic: topic, Key: []byte("key"), Value: []byte(`{"v":1}`)}
	m.Headers = Headers{
		CorrelationID: uuid.New(), Source: "src", EventType: "ev", Destination: "dst", TraceID: "tr", SpanID: "sp",
		ParentSpanID: "ps", OperationName: "op", Priority: PriorityHigh, RoutingKey: "rk", PartitionKey: "pk",
		RetryCount: 2, MaxRetries: -1, TTLSeconds: 30, TraceParent: "00-abc-def-01",
		Timestamp: time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC),
		Extra:     []Header{{Key: "x-tenant", Value: "t1"}, {Key: "x-empty", Value: ""}},
	}
	return m
}

// A Bus.Publish to a FormatKafka topic is stored as a Kafka v2 batch that
// franz-go's decoding reads with every header (the same names and text
// AppendRecordHeaders gives the Kafka transport), and History, Fetch and
// a subscriber get the message back whole, with a millisecond timestamp.
func TestPublishToKafkaTopicWritesBatches(t *testing.T) {
	kafkaBackends(t, func(t *testing.T, reopen func() *Bus) {
		b := reopen()
		ctx := context.Background()
		createKafkaTopic(t, b, "k1", 1)
		m := fullMessage("k1")
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if m.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("publisher's timestamp %v is not whole milliseconds", m.Timestamp)
		}
		raw, next, err := b.log.ReadBatches(ctx, "k1", 0, 0, 1<<20, nil)
		if err != nil || next != 1 {
			t.Fatalf("ReadBatches: next %d, %v", next, err)
		}
		h, err := kbatch.ParseHeader(raw)
		if err != nil || h.ProducerID != -1 || h.NumRecords != 1 || h.MaxTimestamp != m.Timestamp.UnixMilli() {
			t.Fatalf("stored batch %+v, %v", h, err)
		}
		var rec kbatch.Record
		if _, err := kbatch.ReadRecord(raw[kbatch.HeaderSize:], &rec); err != nil {
			t.Fatal(err)
		}
		want := m.Headers.AppendRecordHeaders(nil)
		if len(rec.Headers) != len(want) {
			t.Fatalf("%d record headers, want %d", len(rec.Headers), len(want))
		}
		for i, w := range want {
			if string(rec.Headers[i].Key) != w.Key || !bytes.Equal(rec.Headers[i].Value, w.Value) {
				t.Fatalf("header %d = %s:%q, want %s:%q", i, rec.Headers[i].Key, rec.Headers[i].Value, w.Key, w.Value)
			}
		}

		check := func(where string, got *Message) {
			t.Helper()
			if string(got.Key) != "key" || string(got.Value) != `{"v":1}` || !got.Timestamp.Equal(m.Timestamp) || got.Offset != 0 {
				t.Fatalf("%s: message %+v", where, got)
			}
			if fmt.Sprint(got.Headers) != fmt.Sprint(HeadersFromRecord(want, nil)) {
				t.Fatalf("%s: headers\n got %+v\nwant %+v", where, got.Headers, m.Headers)
			}
			if got.Headers.MessageID != m.Headers.MessageID || got.Headers.CorrelationID != m.Headers.CorrelationID {
				t.Fatalf("%s: ids differ", where)
			}
		}
		hist, err := b.History(ctx, "k1", 10)
		if err != nil || len(hist) != 1 {
			t.Fatalf("History: %v, %v", hist, err)
		}
		check("History", hist[0])
		byCorr, err := b.History(ctx, "k1", 10, WithCorrelationID(m.Headers.CorrelationID))
		if err != nil || len(byCorr) != 1 {
			t.Fatalf("History by correlation id on a Kafka topic: %d, %v", len(byCorr), err)
		}
		if none, _ := b.History(ctx, "k1", 10, WithCorrelationID(uuid.New())); len(none) != 0 {
			t.Fatalf("History by another correlation id: %d", len(none))
		}
		fetched, err := b.Fetch(ctx, "k1", 0, 0, 10)
		if err != nil || len(fetched) != 1 {
			t.Fatalf("Fetch: %v, %v", fetched, err)
		}
		check("Fetch", fetched[0])
		got := make(chan *Message, 1)
		if _, err := b.Subscribe(ctx, "k1", "g", func(_ context.Context, msg *Message) error { got <- msg; return nil }, SubscribeStart(StartEarliest)); err != nil {
			t.Fatal(err)
		}
		check("subscriber", <-got)

		// After a reopen the topic is still a Kafka topic.
		b = reopen()
		m2 := fullMessage("k1")
		if off, err := b.Publish(ctx, m2); err != nil || off != 1 {
			t.Fatalf("publish after reopen: %d, %v", off, err)
		}
		if _, next, _ := b.log.ReadBatches(ctx, "k1", 0, 1, 1<<20, nil); next != 2 {
			t.Fatalf("after reopen the publish is not a batch: next %d", next)
		}
	})
}

// message_id dedup holds for the bus's own publishes to a Kafka topic:
// within one PublishBatch, across publishes, across partitions and after a
// reopen.
func TestKafkaTopicMessageIDDedup(t *testing.T) {
	kafkaBackends(t, func(t *testing.T, reopen func() *Bus) {
		b := reopen()
		ctx := context.Background()
		createKafkaTopic(t, b, "k2", 2)
		id := uuid.New()
		mk := func(part int32) *Message {
			m := &Message{Topic: "k2", Value: []byte("v"), Partition: part, ExplicitPartition: true}
			m.Headers.MessageID = id
			return m
		}
		other := &Message{Topic: "k2", Value: []byte("w"), ExplicitPartition: true}
		batch := []*Message{mk(0), other, mk(0)}
		if err := b.PublishBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if batch[0].Duplicate || batch[1].Duplicate || !batch[2].Duplicate || batch[2].Offset != batch[0].Offset {
			t.Fatalf("in-batch duplicate: %+v / %+v / %+v", batch[0], batch[1], batch[2])
		}
		if end, _ := b.EndOffset("k2", 0); end != 2 {
			t.Fatalf("end offset %d after a batch with one duplicate, want 2", end)
		}
		again := mk(1)
		if off, err := b.Publish(ctx, again); err != nil || !again.Duplicate || off != 0 || again.Partition != 0 {
			t.Fatalf("duplicate on another partition: %d %+v %v", off, again, err)
		}
		b = reopen()
		afterReopen := mk(0)
		if _, err := b.Publish(ctx, afterReopen); err != nil || !afterReopen.Duplicate || afterReopen.Offset != 0 {
			t.Fatalf("duplicate after reopen: %+v %v", afterReopen, err)
		}
		if end, _ := b.EndOffset("k2", 0); end != 2 {
			t.Fatalf("end offset %d after duplicates, want 2", end)
		}
		async := mk(1)
		done := make(chan error, 1)
		if err := b.PublishAsync(ctx, async, func(_ *Message, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil || !async.Duplicate {
			t.Fatalf("async duplicate: %+v %v", async, err)
		}
	})
}

func TestPublishAsyncToKafkaTopic(t *testing.T) {
	b := memBus(t)
	ctx := context.Background()
	createKafkaTopic(t, b, "k3", 1)
	done := make(chan *Message, 10)
	for range 10 {
		if err := b.PublishAsync(ctx, &Message{Topic: "k3", Value: []byte("v")}, func(m *Message, err error) {
			if err != nil {
				t.Error(err)
			}
			done <- m
		}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	for range 10 {
		seen[(<-done).Offset] = true
	}
	if len(seen) != 10 {
		t.Fatalf("offsets %v", seen)
	}
	raw, next, err := b.log.ReadBatches(ctx, "k3", 0, 0, 1<<20, nil)
	if err != nil || next != 10 {
		t.Fatalf("ReadBatches from 0: next %d, %v", next, err)
	}
	batches := 0
	for len(raw) > 0 {
		n, err := kbatch.BatchLen(raw)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		raw = raw[n:]
	}
	if batches != 10 {
		t.Fatalf("%d batches, want one per async publish", batches)
	}
}

// foreignBatch is a batch as a Kafka producer sends it: producer id set,
// no onexbus headers (so no message_id).
func foreignBatch(t *testing.T, pid int64, seq int32, control bool, values ...string) []byte {
	t.Helper()
	bl := kbatch.NewBuilder(kbatch.CodecSnappy)
	bl.SetProducer(pid, 0, seq)
	for _, v := range values {
		if err := bl.Add(1_700_000_000_000, nil, []byte(v), []kbatch.RecordHeader{{Key: []byte("priority"), Value: []byte("urgent")}}); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := bl.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if control {
		attrs := binary.BigEndian.Uint16(batch[21:]) | 0x30 // transactional, control
		binary.BigEndian.PutUint16(batch[21:], attrs)
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
	}
	return batch
}

func appendRaw(t *testing.T, b *Bus, topic string, batch []byte) {
	t.Helper()
	ch := make(chan wal.BatchResult, 1)
	if err := b.log.AppendBatch(context.Background(), topic, 0, batch, func(r wal.BatchResult) { ch <- r }); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.Err != nil {
		t.Fatal(r.Err)
	}
}

// Records a Kafka producer wrote reach embedded readers: control batches
// are skipped, a record without message_id gets one derived from (topic
// id, partition, offset) that every read agrees on, and a foreign header
// value that does not parse falls back with the raw value kept.
func TestKafkaProducerRecordsForEmbeddedReaders(t *testing.T) {
	b := memBus(t)
	ctx := context.Background()
	createKafkaTopic(t, b, "k4", 1)
	appendRaw(t, b, "k4", foreignBatch(t, 7, 0, false, "a", "b"))
	appendRaw(t, b, "k4", foreignBatch(t, 8, 0, true, "marker"))
	appendRaw(t, b, "k4", foreignBatch(t, 7, 2, false, "c"))

	first, err := b.Fetch(ctx, "k4", 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, m := range first {
		values = append(values, string(m.Value))
	}
	if fmt.Sprint(values) != "[a b c]" || first[2].Offset != 3 {
		t.Fatalf("fetched %v (last at %d), want [a b c] with the marker's offset 2 skipped", values, first[2].Offset)
	}
	second, _ := b.History(ctx, "k4", 10)
	ids := map[uuid.UUID]bool{}
	for i, m := range first {
		if m.Headers.MessageID == uuid.Nil || m.Headers.MessageID != second[i].Headers.MessageID {
			t.Fatalf("record %d: message id %v, then %v", i, m.Headers.MessageID, second[i].Headers.MessageID)
		}
		if m.Headers.MessageID.Version() != 8 {
			t.Fatalf("derived id %v is not a UUIDv8", m.Headers.MessageID)
		}
		ids[m.Headers.MessageID] = true
		if m.Headers.Priority != PriorityUnset || len(m.Headers.Unparsed) != 1 || m.Headers.Unparsed[0].Value != "urgent" {
			t.Fatalf("record %d: priority %v, unparsed %v", i, m.Headers.Priority, m.Headers.Unparsed)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("derived ids are not distinct: %v", ids)
	}
	got := make(chan *Message, 10)
	if _, err := b.Subscribe(ctx, "k4", "g", func(_ context.Context, m *Message) error { got <- m; return nil }, SubscribeStart(StartEarliest)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m := <-got
		if m.Headers.MessageID != first[i].Headers.MessageID {
			t.Fatalf("delivery %d: id %v, fetch said %v", i, m.Headers.MessageID, first[i].Headers.MessageID)
		}
	}
}

func TestDerivedMessageIDIsStableAndDistinct(t *testing.T) {
	a := derivedMessageID([16]byte{1}, 0, 5)
	if a != derivedMessageID([16]byte{1}, 0, 5) {
		t.Fatal("not deterministic")
	}
	for _, other := range []uuid.UUID{derivedMessageID([16]byte{2}, 0, 5), derivedMessageID([16]byte{1}, 1, 5), derivedMessageID([16]byte{1}, 0, 6)} {
		if other == a {
			t.Fatal("different positions share an id")
		}
	}
	if a.Version() != 8 || a.Variant() != uuid.RFC4122 {
		t.Fatalf("version %d variant %v", a.Version(), a.Variant())
	}
}

// A PublishBatch larger than one batch may be (the log's maximum record
// size) is stored as several batches, every message once, offsets dense.
func TestKafkaTopicLargePublishBatchSplits(t *testing.T) {
	b := memBus(t)
	ctx := context.Background()
	createKafkaTopic(t, b, "k5", 1)
	msgs := make([]*Message, 3000)
	for i := range msgs {
		msgs[i] = &Message{Topic: "k5", Value: bytes.Repeat([]byte{byte(i)}, 1024)}
	}
	if err := b.PublishBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if m.Offset != int64(i) || m.Duplicate {
			t.Fatalf("message %d at offset %d (duplicate %v)", i, m.Offset, m.Duplicate)
		}
	}
	got, err := b.Fetch(ctx, "k5", 0, 0, 5000)
	if err != nil || len(got) != 3000 || got[2999].Value[0] != byte(2999%256) {
		t.Fatalf("fetched %d, %v", len(got), err)
	}
}

// In a large PublishBatch (the map path) a repeated message_id is stored
// once, and the repeat gets the first copy's offset.
func TestKafkaTopicLargePublishBatchDedup(t *testing.T) {
	b := memBus(t)
	ctx := context.Background()
	createKafkaTopic(t, b, "k6", 1)
	id := uuid.New()
	msgs := make([]*Message, 100)
	for i := range msgs {
		msgs[i] = &Message{Topic: "k6", Value: []byte("v")}
		if i == 10 || i == 90 {
			msgs[i].Headers.MessageID = id
		}
	}
	if err := b.PublishBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if !msgs[90].Duplicate || msgs[90].Offset != msgs[10].Offset || msgs[10].Duplicate {
		t.Fatalf("repeat: %+v, first %+v", msgs[90], msgs[10])
	}
	if end, _ := b.EndOffset("k6", 0); end != 99 {
		t.Fatalf("end offset %d, want 99", end)
	}
}

// A Kafka control batch between records is passed over without the
// "removed by retention" warning a real gap gets.
func TestControlBatchIsNotReportedAsRetention(t *testing.T) {
	var logs syncBuffer
	b := memBus(t, WithLogger(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})))
	ctx := context.Background()
	createKafkaTopic(t, b, "k7", 1)
	appendRaw(t, b, "k7", foreignBatch(t, 7, 0, true, "marker"))
	appendRaw(t, b, "k7", foreignBatch(t, 8, 0, false, "a"))
	appendRaw(t, b, "k7", foreignBatch(t, 9, 0, true, "marker"))
	got := make(chan *Message, 4)
	if _, err := b.Subscribe(ctx, "k7", "g", func(_ context.Context, m *Message) error { got <- m; return nil }, SubscribeStart(StartEarliest)); err != nil {
		t.Fatal(err)
	}
	if m := <-got; string(m.Value) != "a" || m.Offset != 1 {
		t.Fatalf("delivered %q at %d", m.Value, m.Offset)
	}
	// The trailing marker moves the cursor past it.
	testutil.Eventually(t, 10*time.Second, func() bool {
		off, ok, err := b.log.Cursor("g", "k7", 0)
		return err == nil && ok && off == 3
	}, "the cursor past the trailing marker")
	if strings.Contains(logs.String(), "removed by retention") {
		t.Fatalf("control records reported as retention:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
