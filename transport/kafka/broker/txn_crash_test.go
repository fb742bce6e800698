package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnKillLoop: a transactional kgo producer commits and aborts
// transactions of 3 records over 2 partitions against a broker in a child
// process, which is killed with SIGKILL at a random moment and restarted
// on the same directory and port, cycle after cycle (the producer
// re-initialises its transactional id each time). At the end a
// read_committed reader finds every transaction whose commit was
// acknowledged whole and once, none that was aborted or never asked to
// commit, and each whose commit was in flight at the kill whole or not at
// all. 3 cycles by default (skipped with -short); ONEXBUS_CRASH_CYCLES
// sets more.
func TestTxnKillLoop(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv(envCrashCycles))
	if cycles <= 0 {
		if testing.Short() {
			t.Skip("kill -9 loop; skipped with -short")
		}
		cycles = 3
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	child := startChildAt(t, dir, addr)
	const topic, parts = "txn-crash", 2
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*30*time.Second+60*time.Second)
	defer cancel()
	admin := newKgo(t, addr)
	createTopic(t, ctx, admin, topic, parts)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	book := newTxnBook()
	var committed atomic.Int64

	for c := range cycles {
		cl := txnClient(t, addr, "crash-producer", kgo.DefaultProduceTopic(topic),
			kgo.RecordDeliveryTimeout(5*time.Second), kgo.RetryTimeout(5*time.Second), kgo.TransactionTimeout(time.Minute))
		stopped := make(chan struct{})
		running := make(chan struct{}, 1)
		prng := rand.New(rand.NewPCG(uint64(seed), uint64(c)+2)) // the producer's own
		go func() {
			defer close(stopped)
			for i := 0; ; i++ {
				txn := fmt.Sprintf("c%d-t%d", c, i)
				opCtx, opCancel := context.WithTimeout(ctx, 10*time.Second)
				ok := runCrashTxn(opCtx, cl, book, txn, topic, parts, prng.IntN(4) != 0, &committed)
				opCancel()
				select {
				case running <- struct{}{}:
				default:
				}
				if !ok {
					return // the broker is gone
				}
			}
		}()
		// Kill after a random number of transactions of this cycle.
		target := committed.Load() + 5 + int64(rng.IntN(20))
		deadline := time.Now().Add(20 * time.Second)
		for committed.Load() < target && time.Now().Before(deadline) {
			select {
			case <-running:
			case <-stopped:
				t.Fatalf("cycle %d: the producer stopped before the kill", c)
			case <-time.After(time.Second):
			}
		}
		if committed.Load() < target {
			t.Fatalf("cycle %d: only %d transactions committed, want %d", c, committed.Load(), target)
		}
		child.kill(t)
		// Close the client before waiting for the producer: a transactional
		// kgo producer never times out a buffered record (that would break
		// its sequence numbers), so a ProduceSync or EndTransaction in flight
		// at the kill waits for a broker that only comes back after the
		// producer stopped. Close fails them (their outcome is then
		// "aborting" or "commit unknown" in the book, as for any kill).
		cl.Close()
		<-stopped
		child = startChildAt(t, dir, addr)
		t.Logf("cycle %d: killed with %d transactions committed so far", c+1, committed.Load())
	}
	ends := map[int32]int64{}
	for p, e := range partitionEnds(t, ctx, admin, topic, parts) {
		ends[int32(p)] = e
	}
	reader := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	seen := readCommittedUntilStable(t, ctx, reader, ends, func(string) error { return nil })
	book.checkFinal(t, seen)
}

// runCrashTxn runs one transaction and records its outcome in book; false
// when the broker went away (the outcome is then unknown for a commit in
// flight, aborted for anything else).
func runCrashTxn(ctx context.Context, cl *kgo.Client, book *txnBook, txn, topic string, parts int32, commit bool, committed *atomic.Int64) bool {
	if err := cl.BeginTransaction(); err != nil {
		return false
	}
	for j := range 3 {
		v := fmt.Sprintf("%s-%d", txn, j)
		book.wrote(txn, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(j) % parts, Value: []byte(v)}).FirstErr(); err != nil {
			book.set(txn, txnAborting) // never asked to commit: must never be visible
			return false
		}
	}
	if !commit {
		book.set(txn, txnAborting)
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			return false
		}
		book.set(txn, txnAborted)
		return true
	}
	book.set(txn, txnCommitUnknown)
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return false
	}
	book.set(txn, txnCommitted)
	committed.Add(1)
	return true
}
