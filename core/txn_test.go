package core_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

const (
	txnIn   = "txn.in"
	txnOut  = "txn.out"  // frames, 3 partitions
	txnOutK = "txn.outk" // Kafka, 2 partitions
)

// txnTopics are the topics of the transaction tests.
func txnTopics() []core.Option {
	return []core.Option{
		core.WithTopic(txnIn, core.TopicConfig{Partitions: 1}),
		core.WithTopic(txnOut, core.TopicConfig{Partitions: 3}),
		core.WithTopic(txnOutK, core.TopicConfig{Partitions: 2, Format: core.FormatKafka}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 0}),
	}
}

// txnOutputs publishes, for input m, two outputs on txnOut (keys a and b,
// so on different partitions) and one on txnOutK, each valued
// "<input value>/<n>".
func txnOutputs(ctx context.Context, m *core.Message) error {
	tx := core.TxnFrom(ctx)
	v := string(m.Value)
	return tx.Publish(ctx,
		&core.Message{Topic: txnOut, Key: []byte("a" + v), Value: []byte(v + "/0")},
		&core.Message{Topic: txnOut, Key: []byte("b" + v), Value: []byte(v + "/1")},
		&core.Message{Topic: txnOutK, Key: []byte(v), Value: []byte(v + "/2")})
}

// outputCounts counts the messages of txnOut and txnOutK by value.
func outputCounts(t *testing.T, b *core.Bus) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, topic := range []string{txnOut, txnOutK} {
		msgs, err := b.History(context.Background(), topic, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[string(m.Value)]++
		}
	}
	return got
}

// wantOutputs checks that each of inputs has its three outputs exactly
// once, and that nothing else is there.
func wantOutputs(t *testing.T, got map[string]int, inputs []string) {
	t.Helper()
	want := map[string]int{}
	for _, in := range inputs {
		for n := range 3 {
			want[fmt.Sprintf("%s/%d", in, n)] = 1
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outputs by value:\n got %v\nwant %v", got, want)
	}
}

func publishInputs(t *testing.T, b *core.Bus, n int) []string {
	t.Helper()
	var in []string
	for i := range n {
		v := fmt.Sprintf("in%d", i)
		if _, err := b.Publish(context.Background(), &core.Message{Topic: txnIn, Key: []byte(fmt.Sprintf("k%d", i%3)), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
		in = append(in, v)
	}
	return in
}

func waitTxnCursor(t *testing.T, b *core.Bus, group string, want int64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		off, _, _ := b.CommittedOffset(group, txnIn, 0)
		return off >= want
	}, fmt.Sprintf("group %s passes offset %d", group, want-1))
}

// A transactional handler's outputs (frames and Kafka topics, several
// partitions) are stored once each with the group's move, on both stores
// and in every ordering mode.
func TestTxnHandlerPublishesWithTheCursorMove(t *testing.T) {
	for _, be := range backends {
		for _, ord := range []core.Ordering{core.OrderPartition, core.OrderKey, core.OrderNone} {
			t.Run(be.name+"/"+ord.String(), func(t *testing.T) {
				b := busOn(t, be, nil, txnTopics()...)
				inputs := publishInputs(t, b, 20)
				if _, err := b.Subscribe(context.Background(), txnIn, "g", func(ctx context.Context, m *core.Message) error {
					return txnOutputs(ctx, m)
				}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest), core.SubscribeOrdering(ord, 4)); err != nil {
					t.Fatal(err)
				}
				waitTxnCursor(t, b, "g", 20)
				wantOutputs(t, outputCounts(t, b), inputs)
			})
		}
	}
}

// A handler that publishes and then fails (an error, a panic) stores
// none of that call's outputs: its retry publishes them once.
func TestTxnFailedCallPublishesNothingAndRetryOnce(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := busOn(t, be, nil, txnTopics()...)
			inputs := publishInputs(t, b, 4)
			var calls sync.Map // value -> *atomic.Int32
			if _, err := b.Subscribe(context.Background(), txnIn, "g", func(ctx context.Context, m *core.Message) error {
				c, _ := calls.LoadOrStore(string(m.Value), new(atomic.Int32))
				n := c.(*atomic.Int32).Add(1)
				if err := txnOutputs(ctx, m); err != nil {
					return err
				}
				switch {
				case n == 1 && string(m.Value) == "in1":
					return errors.New("fails after publishing")
				case n == 1 && string(m.Value) == "in2":
					panic("panics after publishing")
				}
				return nil
			}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			waitTxnCursor(t, b, "g", 4)
			wantOutputs(t, outputCounts(t, b), inputs)
			for _, v := range []string{"in1", "in2"} {
				c, _ := calls.Load(v)
				if n := c.(*atomic.Int32).Load(); n != 2 {
					t.Fatalf("%s handled %d times, want 2", v, n)
				}
			}
		})
	}
}

// A message dead-lettered after its attempts publishes none of the
// outputs its failed calls collected.
func TestTxnDeadLetteredInputPublishesNothing(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := busOn(t, be, nil, txnTopics()...)
			publishInputs(t, b, 3)
			if _, err := b.Subscribe(context.Background(), txnIn, "g", func(ctx context.Context, m *core.Message) error {
				if err := txnOutputs(ctx, m); err != nil {
					return err
				}
				if string(m.Value) == "in1" {
					return errors.New("always fails")
				}
				return nil
			}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			waitTxnCursor(t, b, "g", 3)
			wantOutputs(t, outputCounts(t, b), []string{"in0", "in2"})
			letters, err := b.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
			if err != nil {
				t.Fatal(err)
			}
			if len(letters) != 1 || string(letters[0].Value) != "in1" {
				t.Fatalf("dead letters: %+v", letters)
			}
		})
	}
}

// Txn outside a transactional call, and after the call returned.
func TestTxnMisuse(t *testing.T) {
	ctx := context.Background()
	if tx := core.TxnFrom(ctx); tx != nil {
		t.Fatal("TxnFrom of a plain context is not nil")
	}
	if err := core.TxnFrom(ctx).Publish(ctx, &core.Message{Topic: txnOut}); !errors.Is(err, core.ErrNotTransactional) {
		t.Fatalf("Publish on the nil Txn: %v", err)
	}
	b := busOn(t, backends[0], nil, txnTopics()...)
	publishInputs(t, b, 2)
	kept := make(chan *core.Txn, 2)
	plain := make(chan *core.Txn, 2)
	if _, err := b.Subscribe(ctx, txnIn, "g", func(ctx context.Context, m *core.Message) error {
		kept <- core.TxnFrom(ctx)
		return core.TxnFrom(ctx).Publish(ctx, &core.Message{Topic: "bad topic!"})
	}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest),
		core.SubscribeRetry(core.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond, Max: time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, txnIn, "plain", func(ctx context.Context, m *core.Message) error {
		plain <- core.TxnFrom(ctx)
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	tx := testutil.Receive(t, kept, 5*time.Second)
	waitTxnCursor(t, b, "g", 2)
	if err := tx.Publish(ctx, &core.Message{Topic: txnOut}); !errors.Is(err, core.ErrTxnDone) {
		t.Fatalf("Publish after the handler returned: %v", err)
	}
	if tx := testutil.Receive(t, plain, 5*time.Second); tx != nil {
		t.Fatal("a plain subscription's handler got a Txn")
	}
	if n := len(outputCounts(t, b)); n != 0 {
		t.Fatalf("%d outputs from handlers that failed", n)
	}
}

// faultyBus opens a bus with the transaction topics on a faultstore over
// a bbolt file in dir, under the sync policy.
func faultyBus(t *testing.T, dir string, opts ...core.Option) (*core.Bus, *faultstore.Store, store.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	fs := faultstore.New(st)
	b, err := core.New(append(append([]core.Option{core.WithStore(fs), core.WithDurability(core.DurabilitySync, 0)}, txnTopics()...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b, fs, st
}

// reopenBus opens the bbolt file in dir without faults.
func reopenBus(t *testing.T, dir string) *core.Bus {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return busOn(t, backends[1], st, txnTopics()...)
}

// While the store fails, a transactional handler's outputs are not
// visible and its cursor move is not stored; a process that dies then
// (its last commits fail too) has stored neither, so the restarted bus
// handles the input again and its outputs exist once.
func TestTxnOutputsOnlyWithTheCursorMove(t *testing.T) {
	dir := t.TempDir()
	b, fs, st := faultyBus(t, dir)
	ctx := context.Background()
	inputs := publishInputs(t, b, 1)
	returned := make(chan struct{}, 1)
	if _, err := b.Subscribe(ctx, txnIn, "g", func(ctx context.Context, m *core.Message) error {
		err := txnOutputs(ctx, m)
		// The disk breaks for good as the handler returns: its
		// transaction's commit, and every later one, fails.
		fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit})
		returned <- struct{}{}
		return err
	}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, returned, 5*time.Second)
	testutil.Eventually(t, 5*time.Second, func() bool { return fs.Fired() >= 1 }, "a commit failed")
	if off, _, _ := b.CommittedOffset("g", txnIn, 0); off != 0 {
		t.Fatalf("the group shows position %d before its outputs are stored", off)
	}
	for _, topic := range []string{txnOut, txnOutK} {
		for p := range int32(2) {
			if end, _ := b.EndOffset(topic, p); end != 0 {
				t.Fatalf("%s/%d holds %d outputs of a transaction that is not stored", topic, p, end)
			}
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = b.Close(closeCtx)
	_ = st.Close()

	b2 := reopenBus(t, dir)
	if off, ok, _ := b2.CommittedOffset("g", txnIn, 0); ok && off > 0 {
		t.Fatalf("the cursor moved (%d) without the outputs", off)
	}
	if n := len(outputCounts(t, b2)); n != 0 {
		t.Fatalf("%d outputs stored without the cursor move", n)
	}
	if _, err := b2.Subscribe(ctx, txnIn, "g", func(ctx context.Context, m *core.Message) error {
		return txnOutputs(ctx, m)
	}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	waitTxnCursor(t, b2, "g", 1)
	wantOutputs(t, outputCounts(t, b2), inputs)
}

// A commit that fails while the disk comes back: the handler is not run
// again (that would publish a second copy); the queued op is stored
// whole by the next commit.
func TestTxnCommitFailureIsNotRetriedByTheHandler(t *testing.T) {
	dir := t.TempDir()
	b, fs, st := faultyBus(t, dir)
	t.Cleanup(func() { _ = b.Close(context.Background()); _ = st.Close() })
	inputs := publishInputs(t, b, 3)
	var calls atomic.Int32
	if _, err := b.Subscribe(context.Background(), txnIn, "g", func(ctx context.Context, m *core.Message) error {
		if calls.Add(1) == 1 {
			// The next 3 commits fail: this call's transaction's first.
			fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit, Count: 3})
		}
		return txnOutputs(ctx, m)
	}, core.SubscribeTransactional(), core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	waitTxnCursor(t, b, "g", 3)
	if fs.Fired() == 0 {
		t.Fatal("no commit failed")
	}
	wantOutputs(t, outputCounts(t, b), inputs)
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times for 3 inputs", n)
	}
}

// PublishBatch across partitions and formats is all or nothing: a bad
// message anywhere stores none, and a store commit that fails leaves none
// of it visible and, if the process dies before the disk works, none
// stored.
func TestPublishBatchAllOrNothing(t *testing.T) {
	batch := func(tag string) []*core.Message {
		var msgs []*core.Message
		for i := range 6 {
			msgs = append(msgs,
				&core.Message{Topic: txnOut, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", tag, i))},
				&core.Message{Topic: txnOutK, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-k%d", tag, i))})
		}
		return msgs
	}
	total := func(b *core.Bus) int {
		n := 0
		for _, c := range outputCounts(t, b) {
			n += c
		}
		return n
	}
	ctx := context.Background()
	dir := t.TempDir()
	b, fs, st := faultyBus(t, dir)
	bad := append(batch("bad"), &core.Message{Topic: "no such topic!"})
	if err := b.PublishBatch(ctx, bad); !errors.Is(err, core.ErrInvalidTopic) {
		t.Fatalf("batch with a bad message: %v", err)
	}
	if n := total(b); n != 0 {
		t.Fatalf("a refused batch stored %d messages", n)
	}
	if err := b.PublishBatch(ctx, batch("ok")); err != nil {
		t.Fatal(err)
	}
	fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit, Count: 0})
	err := b.PublishBatch(ctx, batch("lost"))
	if !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("batch on a failing disk: %v, want ErrCommit", err)
	}
	if n := total(b); n != 12 {
		t.Fatalf("%d messages visible, want the first batch's 12", n)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = b.Close(closeCtx)
	_ = st.Close()
	b2 := reopenBus(t, dir)
	got := outputCounts(t, b2)
	for v := range got {
		if !strings.HasPrefix(v, "ok-") {
			t.Fatalf("after restart: %s of the failed batch is stored (%v)", v, got)
		}
	}
	if len(got) != 12 {
		t.Fatalf("after restart: %v, want the first batch whole", got)
	}
}

// PublishCommit stores outputs with the group's positions; a bad
// position stores nothing.
func TestPublishCommit(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := busOn(t, be, nil, txnTopics()...)
			publishInputs(t, b, 2)
			out := []*core.Message{{Topic: txnOut, Value: []byte("in0/0")}, {Topic: txnOutK, Value: []byte("in0/2")}}
			err := b.PublishCommit(ctx, out, "tool", []core.GroupOffset{{Topic: txnIn, Partition: 0, Offset: 9}})
			if !errors.Is(err, core.ErrInvalidOffset) {
				t.Fatalf("position past the end: %v", err)
			}
			if n := len(outputCounts(t, b)); n != 0 {
				t.Fatalf("a refused PublishCommit stored %d outputs", n)
			}
			if err := b.PublishCommit(ctx, out, "tool", []core.GroupOffset{{Topic: txnIn, Partition: 0, Offset: 1}}); err != nil {
				t.Fatal(err)
			}
			if off, ok, _ := b.CommittedOffset("tool", txnIn, 0); !ok || off != 1 {
				t.Fatalf("position %d %v", off, ok)
			}
			if out[1].Offset != 0 || out[1].Partition < 0 {
				t.Fatalf("output position not set: %+v", out[1])
			}
			if got := outputCounts(t, b); got["in0/0"] != 1 || got["in0/2"] != 1 {
				t.Fatalf("outputs %v", got)
			}
		})
	}
}
