package wal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

// Producer crash test knobs and shape; see TestProducerStateCrash.
const (
	prodCrashChildEnv  = "ONEXBUS_WAL_PRODUCER_CRASH_CHILD"
	prodCrashCyclesEnv = "ONEXBUS_WAL_PRODUCER_CRASH_CYCLES"
	prodCrashSeedEnv   = "ONEXBUS_WAL_PRODUCER_CRASH_SEED"

	prodCrashTopic     = "idem"
	prodCrashParts     = 2
	prodCrashProducers = 4 // producer i writes to partition i % prodCrashParts
	prodCrashInFlight  = 5 // batches in flight per producer, as a Kafka client's max
)

// prodBatch is one batch of the crash test: who sent it and where it is.
type prodBatch struct {
	pid   int64
	epoch int16
	seq   int32 // first sequence
	n     int   // records
	part  int32
	base  int64
}

func (b prodBatch) String() string {
	return fmt.Sprintf("pid %d epoch %d seq %d+%d at %d/%d", b.pid, b.epoch, b.seq, b.n, b.part, b.base)
}

// prodBatchLen is the record count of the batch that starts at seq: the
// same in every life, so a batch lost in a crash is sent again as it was.
func prodBatchLen(seq int32) int { return 1 + int(seq%3) }

// TestProducerStateCrash checks that idempotent-producer state and stored
// batches agree after kill -9: the test binary runs itself as a child
// that appends batches with sequences (prodCrashProducers producers, up to
// prodCrashInFlight batches in flight each, an epoch bump now and then)
// through AppendBatch on a bbolt file and prints an ack line the moment
// each batch's done reports it durable. The parent kills it with SIGKILL
// at a random moment, reopens the file and checks:
//
//   - every acked batch is stored once, at its acked offset;
//   - no batch is stored twice, and each producer's batches run without
//     gaps (a new epoch starts at sequence 0);
//   - each producer's window is exactly its last 5 stored batches of its
//     newest epoch: a retry of each is a duplicate answered with its
//     stored offset, the batch before them is refused.
//
// The next child resumes every producer after its newest stored batch,
// so batches the crash lost are sent again, as a client would.
//
// Environment:
//
//	ONEXBUS_WAL_PRODUCER_CRASH_CYCLES  cycles (default 10; 3 with -short or CI=true)
//	ONEXBUS_WAL_PRODUCER_CRASH_SEED    seed of the kill delays (default: the clock; logged)
func TestProducerStateCrash(t *testing.T) {
	if dir := os.Getenv(prodCrashChildEnv); dir != "" {
		if err := prodCrashChild(dir); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			t.Fatal(err)
		}
		return
	}
	cycles := 10
	if testing.Short() || os.Getenv("CI") == "true" {
		cycles = 3
	}
	if s := os.Getenv(prodCrashCyclesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", prodCrashCyclesEnv, s)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(prodCrashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", prodCrashSeedEnv, s)
		}
		seed = n
	}
	t.Logf("producer crash test: %d cycles, seed %d (rerun with %s=%d)", cycles, seed, prodCrashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x70726f6475636572))
	dir := t.TempDir()
	var acks []prodBatch
	for cycle := range cycles {
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		got := runProdCrashChild(t, dir, delay)
		acks = append(acks, got...)
		stored := verifyProdCrash(t, dir, acks)
		t.Logf("cycle %d: killed %v after ready, %d acks, %d batches stored", cycle, delay, len(got), stored)
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d)", cycle, seed)
		}
	}
}

func openProdCrashLog(dir string) (*wal.Log, *bolt.Store, error) {
	st, err := bolt.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		return nil, nil, err
	}
	l, err := wal.Open(st)
	if err != nil {
		return nil, nil, errors.Join(err, st.Close())
	}
	if _, err := l.CreateTopic(prodCrashTopic, wal.TopicConfig{Partitions: prodCrashParts, Format: wal.FormatKafka}); err != nil {
		return nil, nil, errors.Join(err, l.Close(context.Background()), st.Close())
	}
	return l, st, nil
}

// readProdBatches returns every stored batch of the crash test's topic,
// by partition and offset.
func readProdBatches(ctx context.Context, l *wal.Log) ([]prodBatch, error) {
	var out []prodBatch
	for part := range int32(prodCrashParts) {
		start, end, err := l.Offsets(prodCrashTopic, part)
		if err != nil {
			return nil, err
		}
		for from := start; from < end; {
			b, next, err := l.ReadBatches(ctx, prodCrashTopic, part, from, 1<<20, nil)
			if err != nil {
				return nil, err
			}
			for len(b) > 0 {
				n, err := kbatch.BatchLen(b)
				if err != nil {
					return nil, err
				}
				h, err := kbatch.ParseHeader(b[:n])
				if err != nil {
					return nil, err
				}
				out = append(out, prodBatch{pid: h.ProducerID, epoch: h.ProducerEpoch, seq: h.BaseSequence,
					n: h.Records(), part: part, base: h.BaseOffset})
				b = b[n:]
			}
			from = next
		}
	}
	return out, nil
}

// prodState is where a producer is: its newest stored batch, if any.
type prodState struct {
	pid    int64
	part   int32
	newest *prodBatch
}

// prodCrashChild resumes (or allocates) the producers and appends until
// it is killed.
func prodCrashChild(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, st, err := openProdCrashLog(dir)
	if err != nil {
		return err
	}
	defer func() { _ = errors.Join(l.Close(context.Background()), st.Close()) }()
	stored, err := readProdBatches(ctx, l)
	if err != nil {
		return err
	}
	// Producers are identified by their partition and their order of
	// first appearance there; a producer that never got a batch stored
	// gets a fresh id.
	var states []prodState
	for i := range prodCrashProducers {
		part := int32(i % prodCrashParts)
		nth := i / prodCrashParts
		var pids []int64
		newest := map[int64]prodBatch{}
		for _, b := range stored {
			if b.part != part {
				continue
			}
			if _, ok := newest[b.pid]; !ok {
				pids = append(pids, b.pid)
			}
			newest[b.pid] = b
		}
		s := prodState{part: part}
		if nth < len(pids) {
			s.pid = pids[nth]
			b := newest[s.pid]
			s.newest = &b
		} else {
			if s.pid, err = l.AllocateProducerID(ctx); err != nil {
				return err
			}
		}
		states = append(states, s)
	}
	line := "ready"
	for _, s := range states {
		line += " " + strconv.FormatInt(s.pid, 10)
	}
	if _, err := fmt.Fprintln(os.Stdout, line); err != nil {
		return err
	}
	errc := make(chan error, len(states))
	var wg sync.WaitGroup
	for i, s := range states {
		wg.Go(func() { errc <- prodCrashProduce(ctx, l, s, i) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// prodCrashProduce appends batches of one producer after its newest
// stored one, keeping up to prodCrashInFlight in flight, and prints an
// ack line per batch once it is durable. The second producer of each
// partition bumps its epoch at the start of each life.
func prodCrashProduce(ctx context.Context, l *wal.Log, s prodState, i int) error {
	epoch, seq := int16(0), int32(0)
	if b := s.newest; b != nil {
		epoch, seq = b.epoch, b.seq+int32(b.n)
		if (i/prodCrashParts)%2 == 1 {
			epoch, seq = epoch+1, 0
		}
	}
	slots := make(chan struct{}, prodCrashInFlight)
	failed := make(chan error, 1)
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case err := <-failed:
			return err
		case <-ctx.Done():
			return nil
		}
		n := prodBatchLen(seq)
		batch := kbatchFor(s.pid, epoch, seq, n)
		want := prodBatch{pid: s.pid, epoch: epoch, seq: seq, n: n, part: s.part}
		err := l.AppendBatch(ctx, prodCrashTopic, s.part, batch, func(r wal.BatchResult) {
			defer func() { <-slots }()
			if r.Err != nil || r.Duplicate {
				select {
				case failed <- fmt.Errorf("%v: %+v", want, r):
				default:
				}
				return
			}
			want.base = r.BaseOffset
			// One write per line, shorter than PIPE_BUF: lines never
			// interleave and nothing is buffered when the kill comes.
			_, _ = os.Stdout.WriteString(fmt.Sprintf("ack %d %d %d %d %d %d\n", want.pid, want.epoch, want.seq, want.n, want.part, want.base))
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%v: %w", want, err)
		}
		seq += int32(n)
	}
	return nil
}

func kbatchFor(pid int64, epoch int16, seq int32, n int) []byte {
	b := kbatch.NewBuilder(kbatch.CodecNone)
	b.SetProducer(pid, epoch, seq)
	for i := range n {
		if err := b.Add(1_700_000_000_000, nil, []byte(fmt.Sprintf("%d-%d-%d", pid, epoch, int(seq)+i)), nil); err != nil {
			panic(err) // a test-built record always fits
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		panic(err)
	}
	return out
}

// runProdCrashChild starts a child on dir, kills it delay after its
// ready line and returns its acks.
func runProdCrashChild(t *testing.T, dir string, delay time.Duration) []prodBatch {
	t.Helper()
	cmd, stdout, stderr := startChild(t, "TestProducerStateCrash", prodCrashChildEnv, dir)
	// The reader owns acks, other and parseErr until it closes done.
	var (
		acks     []prodBatch
		other    []string
		parseErr error
	)
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		readySeen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ack "):
				var b prodBatch
				if _, err := fmt.Sscanf(line, "ack %d %d %d %d %d %d", &b.pid, &b.epoch, &b.seq, &b.n, &b.part, &b.base); err != nil && parseErr == nil {
					parseErr = fmt.Errorf("malformed ack %q: %w", line, err)
				}
				acks = append(acks, b)
			case strings.HasPrefix(line, "ready") && !readySeen:
				readySeen = true
				close(ready)
			default:
				other = append(other, line)
			}
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		t.Fatalf(format+"\nchild stdout (besides acks):\n%s\nchild stderr:\n%s",
			append(args, strings.Join(other, "\n"), stderr.String())...)
	}
	select {
	case <-ready:
	case <-done:
		fail("child exited before its ready line")
	case <-time.After(30 * time.Second):
		fail("child not ready within 30s")
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-done:
		fail("child exited before it was killed")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	<-done
	_ = cmd.Wait()
	if ps := cmd.ProcessState; ps == nil || ps.ExitCode() != -1 {
		t.Fatalf("child was not killed by the signal\nchild stderr:\n%s", stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Fatalf("child stderr:\n%s", s)
	}
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	if len(other) > 0 {
		t.Fatalf("unexpected child output:\n%s\nchild stderr:\n%s", strings.Join(other, "\n"), stderr.String())
	}
	return acks
}

// verifyProdCrash reopens dir and checks the stored batches against
// every ack so far and the producers' windows against the stored
// batches. It returns the number of stored batches.
func verifyProdCrash(t *testing.T, dir string, acks []prodBatch) int {
	t.Helper()
	ctx := context.Background()
	l, st, err := openProdCrashLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := errors.Join(l.Close(ctx), st.Close()); err != nil {
			t.Error(err)
		}
	}()
	stored, err := readProdBatches(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	type id struct {
		pid   int64
		epoch int16
		seq   int32
	}
	at := make(map[id]prodBatch)
	byPid := make(map[int64][]prodBatch) // in offset order: one partition per producer
	for _, b := range stored {
		k := id{b.pid, b.epoch, b.seq}
		if old, dup := at[k]; dup {
			t.Errorf("stored twice: %v and %v", old, b)
		}
		at[k] = b
		byPid[b.pid] = append(byPid[b.pid], b)
	}
	for _, a := range acks {
		if b, ok := at[id{a.pid, a.epoch, a.seq}]; !ok || b != a {
			t.Errorf("acked %v, stored %v (found %v)", a, b, ok)
		}
	}
	for pid, bs := range byPid {
		for i := 1; i < len(bs); i++ {
			prev, b := bs[i-1], bs[i]
			sameEpoch := b.epoch == prev.epoch && b.seq == prev.seq+int32(prev.n)
			bumped := b.epoch == prev.epoch+1 && b.seq == 0
			if b.part != prev.part || !(sameEpoch || bumped) || b.n != prodBatchLen(b.seq) {
				t.Errorf("producer %d: %v follows %v", pid, b, prev)
			}
		}
		// The window: the newest epoch's last 5 batches are duplicates
		// with their stored offsets; the one before them is refused.
		newest := bs[len(bs)-1]
		var window []prodBatch
		for i := len(bs) - 1; i >= 0 && bs[i].epoch == newest.epoch; i-- {
			window = append(window, bs[i])
		}
		for j, b := range window {
			r, err := appendBatchErr(l, prodCrashTopic, b.part, kbatchFor(b.pid, b.epoch, b.seq, b.n))
			switch {
			case j < 5 && (err != nil || !r.Duplicate || r.BaseOffset != b.base):
				t.Errorf("retry of %v (window slot %d): %+v, %v; want a duplicate at %d", b, j, r, err, b.base)
			case j == 5 && !errors.Is(err, wal.ErrOutOfOrderSequence):
				t.Errorf("retry of %v, past the window: %+v, %v; want ErrOutOfOrderSequence", b, r, err)
			}
			if j == 5 {
				break
			}
		}
	}
	return len(stored)
}
