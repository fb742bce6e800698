package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/internal/testutil"
)

// Go ports of Jepsen's Kafka transaction checks (jepsen-io/bufstream,
// research/kafka-broker.md §4.2): early_read's precommitted and aborted
// reads, producer_fence's spurious fencing, and a kill -9 loop.

// txnStatus is what a checker knows of one transaction.
type txnStatus int

const (
	txnOpen       txnStatus = iota // records produced, no end asked yet
	txnCommitting                  // EndTransaction(commit) called
	txnCommitted                   // ... and it returned nil
	txnAborting                    // EndTransaction(abort) called, or never to be committed
	txnAborted
	txnCommitUnknown // the commit's outcome is unknown (the broker died)
)

// txnBook records, for every value written, its transaction, and each
// transaction's status; readers check what they see against it.
type txnBook struct {
	mu     sync.Mutex
	txnOf  map[string]string    // value -> transaction
	status map[string]txnStatus // transaction -> status
	values map[string][]string  // transaction -> values
}

func newTxnBook() *txnBook {
	return &txnBook{txnOf: map[string]string{}, status: map[string]txnStatus{}, values: map[string][]string{}}
}

func (b *txnBook) wrote(txn, v string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.txnOf[v] = txn
	b.values[txn] = append(b.values[txn], v)
	if _, ok := b.status[txn]; !ok {
		b.status[txn] = txnOpen
	}
}

func (b *txnBook) set(txn string, s txnStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status[txn] = s
}

// read checks one read_committed read of v: its transaction must have
// been asked to commit already (no precommitted read) and never aborted.
func (b *txnBook) read(v string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	txn, ok := b.txnOf[v]
	if !ok {
		return fmt.Errorf("read %q, which nobody wrote (or not yet: a read before the write was acknowledged)", v)
	}
	switch s := b.status[txn]; s {
	case txnCommitting, txnCommitted, txnCommitUnknown:
		return nil
	case txnOpen:
		return fmt.Errorf("precommitted read: %q of transaction %s before its commit was asked", v, txn)
	default:
		return fmt.Errorf("aborted read: %q of transaction %s (status %d)", v, txn, s)
	}
}

// checkFinal checks what a final read_committed read saw: every
// committed transaction whole and once, no aborted one, an unknown one
// whole or not at all.
func (b *txnBook) checkFinal(t *testing.T, seen map[string]int) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var committed, aborted, unknown int
	for txn, vals := range b.values {
		n := 0
		for _, v := range vals {
			n += seen[v]
			if seen[v] > 1 {
				t.Errorf("duplicate: %q read %d times", v, seen[v])
			}
		}
		switch b.status[txn] {
		case txnCommitted:
			committed++
			if n != len(vals) {
				t.Errorf("lost write: committed transaction %s has %d of its %d records", txn, n, len(vals))
			}
		case txnCommitUnknown:
			unknown++
			if n != 0 && n != len(vals) {
				t.Errorf("torn transaction: %s has %d of its %d records", txn, n, len(vals))
			}
		default:
			aborted++
			if n != 0 {
				t.Errorf("aborted read: transaction %s (status %d) has %d records visible", txn, b.status[txn], n)
			}
		}
	}
	for v := range seen {
		if _, ok := b.txnOf[v]; !ok {
			t.Errorf("read %q, which nobody wrote", v)
		}
	}
	t.Logf("%d committed, %d aborted, %d of unknown outcome transactions checked", committed, aborted, unknown)
}

// readCommittedUntilStable consumes topic's partitions from the start
// under read_committed, calling check on each value, until every
// partition's position reached its end with nothing open (LSO = HW at
// least at ends), and returns how often each value was read.
func readCommittedUntilStable(t *testing.T, ctx context.Context, cl *kgo.Client, ends map[int32]int64, check func(string) error) map[string]int {
	t.Helper()
	seen := map[string]int{}
	pos := map[int32]int64{}
	for {
		done := true
		for p, end := range ends {
			if pos[p] < end {
				done = false
			}
		}
		if done {
			return seen
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed did not reach %v (at %v): %v", ends, pos, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				seen[string(r.Value)]++
				if err := check(string(r.Value)); err != nil {
					t.Error(err)
				}
			}
			if p.LastStableOffset >= 0 {
				pos[p.Partition] = max(pos[p.Partition], min(p.LastStableOffset, p.HighWatermark))
			}
		})
	}
}

// TestJepsenEarlyRead ports Jepsen's early_read workload: transactional
// writers commit or abort at random while a read_committed consumer reads
// concurrently. No read may see a record of a transaction whose commit
// was not yet asked (a precommitted read, G1c-like), or of an aborted one;
// each writer, fetching read_committed itself right after its records were
// acknowledged, never sees its own transaction's records. At the end every
// committed record was read exactly once.
func TestJepsenEarlyRead(t *testing.T) {
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := tb.client(t)
	const topic, parts, writers, txns, perTxn = "early-read", 2, 3, 12, 4
	createTopic(t, ctx, admin, topic, parts)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	book := newTxnBook()

	reader := newKgo(t, tb.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	readerCtx, stopReader := context.WithCancel(ctx)
	var readerDone sync.WaitGroup
	var concurrentReads int
	readerDone.Go(func() {
		for readerCtx.Err() == nil {
			fs := reader.PollFetches(readerCtx)
			fs.EachRecord(func(r *kgo.Record) {
				concurrentReads++
				if err := book.read(string(r.Value)); err != nil {
					t.Error(err)
				}
			})
		}
	})

	var wg sync.WaitGroup
	for w := range writers {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		cl := txnClient(t, tb.addr, fmt.Sprintf("early-read-%d", w), kgo.DefaultProduceTopic(topic))
		wg.Go(func() {
			for i := range txns {
				txn := fmt.Sprintf("w%d-t%d", w, i)
				if err := cl.BeginTransaction(); err != nil {
					t.Errorf("%s: begin: %v", txn, err)
					return
				}
				first := map[int32]int64{}
				for j := range perTxn {
					v := fmt.Sprintf("%s-%d", txn, j)
					book.wrote(txn, v)
					part := int32(j % parts)
					r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)}).First()
					if err != nil {
						t.Errorf("%s: produce: %v", txn, err)
						return
					}
					if _, ok := first[part]; !ok {
						first[part] = r.Offset
					}
				}
				// The writer's own read_committed fetch: its records are
				// acknowledged, its transaction open.
				for part, off := range first {
					f := rawFetchPart(t, ctx, cl, topic, part, off, true)
					if f.LastStableOffset > off || len(f.RecordBatches) != 0 {
						t.Errorf("%s read its own write: LSO %d past its first record %d (%d bytes fetched)", txn, f.LastStableOffset, off, len(f.RecordBatches))
					}
				}
				commit := rng.IntN(3) != 0
				if commit {
					book.set(txn, txnCommitting)
				} else {
					book.set(txn, txnAborting)
				}
				if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
					t.Errorf("%s: end (commit %v): %v", txn, commit, err)
					return
				}
				if commit {
					book.set(txn, txnCommitted)
				} else {
					book.set(txn, txnAborted)
				}
			}
		})
	}
	wg.Wait()
	stopReader()
	readerDone.Wait()
	ends := map[int32]int64{}
	for p, e := range partitionEnds(t, ctx, admin, topic, parts) {
		ends[int32(p)] = e
	}
	final := newKgo(t, tb.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	seen := readCommittedUntilStable(t, ctx, final, ends, book.read)
	book.checkFinal(t, seen)
	t.Logf("%d reads checked while the writers ran", concurrentReads)
}

// TestJepsenProducerFence ports Jepsen's producer_fence workload: freshly
// created transactional producers, concurrent ones with distinct ids and
// successive generations of one id (each after the previous closed), are
// never fenced; a genuinely concurrent second instance of an id fences
// the first, whose commit fails and whose records stay invisible.
func TestJepsenProducerFence(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	admin := tb.client(t)
	createTopic(t, ctx, admin, "t", 1)
	book := newTxnBook()
	commitOne := func(cl *kgo.Client, txn string) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		book.wrote(txn, txn)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(txn)}).FirstErr(); err != nil {
			return err
		}
		book.set(txn, txnCommitting)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		book.set(txn, txnCommitted)
		return nil
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range 16 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id := fmt.Sprintf("fresh-%d", i)
			cl := txnClient(t, tb.addr, id)
			defer cl.Close()
			if err := commitOne(cl, id); err != nil {
				t.Errorf("fresh producer %s: %v (spuriously fenced?)", id, err)
			}
		})
	}
	wg.Wait()
	for gen := range 8 {
		cl := txnClient(t, tb.addr, "generations")
		if err := commitOne(cl, fmt.Sprintf("gen-%d", gen)); err != nil {
			t.Errorf("generation %d: %v (spuriously fenced?)", gen, err)
		}
		cl.Close()
	}

	// A real fence: a and b share an id; b initialises while a's
	// transaction is open.
	a := txnClient(t, tb.addr, "shared")
	if err := a.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	book.wrote("a", "a-0")
	if err := a.ProduceSync(ctx, &kgo.Record{Value: []byte("a-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b := txnClient(t, tb.addr, "shared")
	if err := commitOne(b, "b-0"); err != nil {
		t.Fatalf("the new instance: %v", err)
	}
	book.set("a", txnCommitting)
	err := a.EndTransaction(ctx, kgo.TryCommit)
	var ke *kerr.Error
	if !errors.As(err, &ke) || (ke != kerr.ProducerFenced && ke != kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced instance's commit: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	book.set("a", txnAborted)
	ends := map[int32]int64{0: partitionEnds(t, ctx, admin, "t", 1)[0]}
	final := newKgo(t, tb.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	book.checkFinal(t, readCommittedUntilStable(t, ctx, final, ends, book.read))
}

// TestTxnTimeoutAborts: a transaction older than its
// transaction.timeout.ms is aborted by the broker with its epoch bumped:
// the records never become visible, the LSO moves past them, and the
// producer's late commit is fenced.
func TestTxnTimeoutAborts(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	admin := tb.client(t)
	createTopic(t, ctx, admin, "t", 1)
	cl := txnClient(t, tb.addr, "slow", kgo.TransactionTimeout(300*time.Millisecond))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		f := rawFetch(t, ctx, admin, "t", 0, true)
		return f.LastStableOffset == 2 && len(f.AbortedTransactions) == 1
	}, "the timed-out transaction aborted (abort marker at 1, LSO 2)")
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the commit of a timed-out transaction succeeded")
	}
	next := txnClient(t, tb.addr, "after")
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceSync(t, ctx, next, "t", 0, "ok")
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, ctx, tb.addr, "t", true, 4); len(got) != 1 || got["ok"] != 2 {
		t.Fatalf("read_committed saw %v, want only ok at 2", got)
	}
}
