package core

import (
	"context"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/internal/testutil"
)

func txnTestBatch(t *testing.T, pid int64, seq int32, txn bool, vals ...string) []byte {
	t.Helper()
	bld := kbatch.NewBuilder(kbatch.CodecNone)
	bld.SetProducer(pid, 0, seq)
	bld.SetTransactional(txn)
	for _, v := range vals {
		if err := bld.Add(time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := bld.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func appendKafkaBatch(t *testing.T, b *Bus, topic string, batch []byte) {
	t.Helper()
	done := make(chan BatchResult, 1)
	if err := b.Kafka().AppendBatch(context.Background(), topic, 0, batch, func(r BatchResult) { done <- r }); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Err != nil {
		t.Fatal(r.Err)
	}
}

// TestEmbeddedSubscriberHonoursTransactions: an embedded group on a Kafka
// topic never receives a record past the last stable offset (an open
// transaction holds back even later non-transactional records), nor a
// record of an aborted transaction, nor a control record; committed
// records arrive, in order, with their offsets, once the commit is
// durable; the cursor moves past the markers.
func TestEmbeddedSubscriberHonoursTransactions(t *testing.T) {
	kafkaBackends(t, func(t *testing.T, reopen func() *Bus) {
		ctx := context.Background()
		b := reopen()
		createKafkaTopic(t, b, "tx", 1)
		got := make(chan *Message, 16)
		if _, err := b.Subscribe(ctx, "tx", "g", func(_ context.Context, m *Message) error { got <- m; return nil }, SubscribeStart(StartEarliest)); err != nil {
			t.Fatal(err)
		}
		appendKafkaBatch(t, b, "tx", txnTestBatch(t, 3, 0, false, "plain-0"))           // 0
		appendKafkaBatch(t, b, "tx", txnTestBatch(t, 9, 0, true, "abort-1", "abort-2")) // 1-2
		appendKafkaBatch(t, b, "tx", txnTestBatch(t, 3, 1, false, "plain-3"))           // 3
		expect := func(want ...string) {
			t.Helper()
			for _, w := range want {
				select {
				case m := <-got:
					if string(m.Value) != w {
						t.Fatalf("got %q at %d, want %q", m.Value, m.Offset, w)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no delivery of %q", w)
				}
			}
		}
		expect("plain-0")
		kl := b.Kafka()
		if lso, _ := kl.LastStableOffset("tx", 0); lso != 1 {
			t.Fatalf("LSO = %d", lso)
		}
		if err := kl.EndTransaction(ctx, TxnEnd{ProducerID: 9, Partitions: []TxnPartition{{Topic: "tx"}}}); err != nil { // abort marker at 4
			t.Fatal(err)
		}
		expect("plain-3")
		appendKafkaBatch(t, b, "tx", txnTestBatch(t, 9, 2, true, "commit-5", "commit-6")) // 5-6
		select {
		case m := <-got:
			t.Fatalf("delivered %q at %d before its commit", m.Value, m.Offset)
		default:
		}
		if err := kl.EndTransaction(ctx, TxnEnd{ProducerID: 9, Commit: true, Partitions: []TxnPartition{{Topic: "tx"}}}); err != nil { // commit marker at 7
			t.Fatal(err)
		}
		expect("commit-5", "commit-6")
		testutil.Eventually(t, 10*time.Second, func() bool {
			off, ok, err := b.log.Cursor("g", "tx", 0)
			return err == nil && ok && off == 8
		}, "the cursor past the commit marker")
		select {
		case m := <-got:
			t.Fatalf("extra delivery %q at %d", m.Value, m.Offset)
		default:
		}
	})
}
