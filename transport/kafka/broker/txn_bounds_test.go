package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store/bolt"
)

// faultBroker is a broker on a bus over a faultstore over a bbolt file,
// stopped by stop (not at cleanup) so a test can reopen the file.
type faultBroker struct {
	fs   *faultstore.Store
	bus  *core.Bus
	srv  *Server
	addr string
	done chan error
}

func startFaultBroker(t *testing.T, path string) *faultBroker {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := faultstore.New(st)
	bus, err := core.New(core.WithStore(fs), core.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		t.Fatal(err)
	}
	fb := &faultBroker{fs: fs, bus: bus, done: make(chan error, 1)}
	fb.srv, fb.addr = serveOn(t, bus, fb.done)
	return fb
}

func serveOn(t *testing.T, bus *core.Bus, done chan error, opts ...Option) (*Server, string) {
	t.Helper()
	srv, err := New(bus, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- srv.Serve(ln) }()
	return srv, ln.Addr().String()
}

// stop closes the broker and the bus; the bus's error (its final commit
// may fail while faults are injected) is returned, not checked.
func (fb *faultBroker) stop(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fb.srv.Close(ctx); err != nil {
		t.Errorf("broker Close: %v", err)
	}
	if err := <-fb.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	return fb.bus.Close(ctx)
}

// TestEndTxnAnsweredOnlyWhenDurable: EndTxn answers success only once
// the markers are in the store. Through a real broker on a bbolt file
// with every store commit failing:
//   - EndTxn(commit) answers COORDINATOR_NOT_AVAILABLE, and so does its
//     retry while the disk still fails; read_committed sees nothing of
//     the transaction (the LSO stays before it); the opposite outcome is
//     INVALID_TXN_STATE; a new transaction is CONCURRENT_TRANSACTIONS;
//   - once the disk works, the retried EndTxn(commit) answers success.
//
// A second transaction's EndTxn fails the same way and the broker stops
// before any retry (its final commit fails too). After reopening the
// file: the first transaction's records are visible under
// read_committed, the second's are not (aborted at Open), and the
// second's retried EndTxn is fenced, never answered committed.
func TestEndTxnAnsweredOnlyWhenDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "onexbus.db")
	fb := startFaultBroker(t, path)
	rc := dialRaw(t, fb.addr)
	if r := rc.do(createTopicsReq("dur", 1, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	ctx := testCtx(t)
	cl := newKgo(t, fb.addr)

	a := initTxn(t, rc, "a", 60_000, 4)
	codeIs(t, "init a", a.ErrorCode, nil)
	codeIs(t, "add a", addParts(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, "dur", 0)[0], nil)
	codeIs(t, "produce a", txnProduce(t, rc, "a", "dur", 0, txnBatchRaw(t, a.ProducerID, a.ProducerEpoch, 0, "a-1", "a-2")).ErrorCode, nil)

	fb.fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit}) // every commit fails until Clear
	codeIs(t, "EndTxn(commit) with the disk failing", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, true), kerr.CoordinatorNotAvailable)
	codeIs(t, "its retry with the disk failing", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, true), kerr.CoordinatorNotAvailable)
	if fb.fs.Fired() == 0 {
		t.Fatal("no fault fired")
	}
	if p := rawFetch(t, ctx, cl, "dur", 0, true); p.LastStableOffset != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("read_committed while the end is not durable: LSO %d, %d bytes; want LSO 0, nothing", p.LastStableOffset, len(p.RecordBatches))
	}
	codeIs(t, "EndTxn(abort) while the commit is pending", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, false), kerr.InvalidTxnState)
	codeIs(t, "a new transaction while the end is pending", addParts(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, "dur", 0)[0], kerr.ConcurrentTransactions)
	fb.fs.Clear()
	codeIs(t, "the retry once the disk works", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, true), nil)
	if p := rawFetch(t, ctx, cl, "dur", 0, true); p.LastStableOffset != 3 {
		t.Fatalf("LSO after the durable commit = %d, want 3 (records 0-1, marker 2)", p.LastStableOffset)
	}

	b := initTxn(t, rc, "b", 60_000, 4)
	codeIs(t, "init b", b.ErrorCode, nil)
	codeIs(t, "add b", addParts(t, rc, "b", b.ProducerID, b.ProducerEpoch, 3, "dur", 0)[0], nil)
	codeIs(t, "produce b", txnProduce(t, rc, "b", "dur", 0, txnBatchRaw(t, b.ProducerID, b.ProducerEpoch, 0, "b-1")).ErrorCode, nil)
	fb.fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit})
	codeIs(t, "EndTxn(commit) of b with the disk failing", endTxn(t, rc, "b", b.ProducerID, b.ProducerEpoch, 3, true), kerr.CoordinatorNotAvailable)
	rc.nc.Close()
	cl.Close()
	if err := fb.stop(t); err == nil {
		t.Log("the bus closed cleanly although its final commit had to fail")
	}

	// Reopen the file, no faults.
	bus := newTestBusAt(t, path)
	tb := startBrokerOn(t, bus, filepath.Dir(path))
	rc = dialRaw(t, tb.addr)
	codeIs(t, "b's EndTxn retried after the restart", endTxn(t, rc, "b", b.ProducerID, b.ProducerEpoch, 3, true), kerr.ProducerFenced)
	got := consumeAll(t, ctx, tb.addr, "dur", true, 5)
	if len(got) != 2 || got["a-1"] != 0 || got["a-2"] != 1 {
		t.Fatalf("read_committed after the restart: %v; want a-1@0 a-2@1 only (b never answered committed)", got)
	}
}

// newTestBusAt opens a bus on the bbolt file at path.
func newTestBusAt(t *testing.T, path string, opts ...core.Option) *core.Bus {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := core.New(append([]core.Option{core.WithStore(st), core.WithLogger(hclog.NewNullLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

// txnClock is a settable clock for the bus.
type txnClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *txnClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *txnClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTxnIDExpiryAndCapAtTheBroker: with at most 2 transactional ids and
// an expiry of one hour (the bus's clock is the test's):
//   - a third id's InitProducerId is THROTTLING_QUOTA_EXCEEDED, and a kgo
//     transactional producer gets that error from BeginTransaction's
//     first produce;
//   - an id idle past the expiry is forgotten: its InitProducerId starts
//     over at a new producer id, epoch 0, and its old producer id is
//     INVALID_PRODUCER_ID_MAPPING;
//   - the third id is accepted once the others expired;
//   - an id with a transaction ongoing (records written, no end) is not
//     forgotten while it is open.
func TestTxnIDExpiryAndCapAtTheBroker(t *testing.T) {
	dir := t.TempDir()
	clock := &txnClock{now: time.Now()}
	bus := newTestBus(t, dir, core.WithClock(clock.Now), core.WithTxnLimits(core.TxnLimits{IDExpiry: time.Hour, MaxIDs: 2}))
	tb := startBrokerOn(t, bus, dir, WithMaxTransactionTimeout(time.Hour))
	rc := dialRaw(t, tb.addr)
	if r := rc.do(createTopicsReq("t", 1, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	kl := bus.Kafka()

	x := initTxn(t, rc, "x", 60_000, 4)
	codeIs(t, "init x", x.ErrorCode, nil)
	y := initTxn(t, rc, "y", 60_000, 4)
	codeIs(t, "init y", y.ErrorCode, nil)
	codeIs(t, "init z, the third id with room for 2", initTxn(t, rc, "z", 60_000, 4).ErrorCode, kerr.ThrottlingQuotaExceeded)
	codeIs(t, "x again (registered: no room needed)", initTxn(t, rc, "x", 60_000, 4).ErrorCode, nil)

	// kgo: the error reaches the application, which may retry later.
	ctx := testCtx(t)
	kz := newKgo(t, tb.addr, kgo.TransactionalID("z"), kgo.DefaultProduceTopic("t"), kgo.RecordRetries(1),
		kgo.RetryTimeout(2*time.Second))
	if err := kz.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := kz.ProduceSync(ctx, &kgo.Record{Value: []byte("z")}).FirstErr(); !errors.Is(err, kerr.ThrottlingQuotaExceeded) {
		t.Fatalf("kgo produce of a transactional id past the cap: %v; want THROTTLING_QUOTA_EXCEEDED", err)
	}
	kz.Close()

	// y keeps a transaction open (records, no end); x goes idle.
	yi := initTxn(t, rc, "y", 60*60_000-1, 4)
	codeIs(t, "re-init y", yi.ErrorCode, nil)
	codeIs(t, "add y", addParts(t, rc, "y", yi.ProducerID, yi.ProducerEpoch, 3, "t", 0)[0], nil)
	codeIs(t, "produce y", txnProduce(t, rc, "y", "t", 0, txnBatchRaw(t, yi.ProducerID, yi.ProducerEpoch, 0, "y-1")).ErrorCode, nil)

	clock.Advance(61 * time.Minute)
	testutil.Eventually(t, 10*time.Second, func() bool { _, ok := kl.TxnProducer("x"); return !ok }, "x forgotten by the committer's expiry pass")
	if _, ok := kl.TxnProducer("y"); !ok {
		t.Fatal("y forgotten with its transaction open")
	}
	codeIs(t, "x's old producer id after the expiry", addParts(t, rc, "x", x.ProducerID, x.ProducerEpoch+1, 3, "t", 0)[0], kerr.InvalidProducerIDMapping)
	x2 := initTxn(t, rc, "x", 60_000, 4)
	codeIs(t, "x after the expiry", x2.ErrorCode, nil)
	if x2.ProducerID == x.ProducerID || x2.ProducerEpoch != 0 {
		t.Fatalf("x after the expiry: producer %d epoch %d; want a new producer id (not %d) at epoch 0", x2.ProducerID, x2.ProducerEpoch, x.ProducerID)
	}
	codeIs(t, "z with x and y registered", initTxn(t, rc, "z", 60_000, 4).ErrorCode, kerr.ThrottlingQuotaExceeded)

	// y's transaction ends (aborted), then y is idle past the expiry:
	// z gets its room.
	codeIs(t, "end y", endTxn(t, rc, "y", yi.ProducerID, yi.ProducerEpoch, 3, false), nil)
	clock.Advance(61 * time.Minute)
	z := initTxn(t, rc, "z", 60_000, 4)
	codeIs(t, "z once x and y expired", z.ErrorCode, nil)
	if n := kl.TxnIDCount(); n > 2 {
		t.Fatalf("%d ids registered with room for 2", n)
	}
}

// TestReadCommittedWithAbortedIndexInStore: with no aborted-index entry
// kept in memory (every one is read from the store per fetch), a kgo
// read_committed consumer still gets exactly the committed records of
// twenty transactions, half aborted, and a raw read_committed Fetch
// lists every aborted transaction of its range.
func TestReadCommittedWithAbortedIndexInStore(t *testing.T) {
	dir := t.TempDir()
	bus := newTestBus(t, dir, core.WithTxnLimits(core.TxnLimits{AbortedIndexMemory: -1}))
	tb := startBrokerOn(t, bus, dir)
	ctx := testCtx(t)
	admin := tb.client(t)
	createTopic(t, ctx, admin, "t", 1)
	cl := txnClient(t, tb.addr, "store-index")
	want := map[string]int64{}
	var aborted []int64 // first offsets
	for i := range 20 {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("r%d", i)
		offs := produceSync(t, ctx, cl, "t", 0, v+"-a", v+"-b")
		commit := i%2 == 1
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if commit {
			want[v+"-a"], want[v+"-b"] = offs[0], offs[1]
		} else {
			aborted = append(aborted, offs[0])
		}
	}
	if n := bus.Kafka().AbortedIndexInMemory(); n > 1 {
		t.Fatalf("%d aborted entries in memory with room for none", n)
	}
	end := int64(20 * 3)
	if got := consumeAll(t, ctx, tb.addr, "t", true, end); !maps.Equal(got, want) {
		t.Fatalf("read_committed saw %v, want %v", got, want)
	}
	p := rawFetch(t, ctx, admin, "t", 0, true)
	var firsts []int64
	for _, a := range p.AbortedTransactions {
		firsts = append(firsts, a.FirstOffset)
	}
	if !slices.Equal(firsts, aborted) {
		t.Fatalf("fetch from 0 lists aborted transactions at %v, want %v", firsts, aborted)
	}
}
