package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/testutil"
)

// The kill test of transactional handlers (issue 17): a child process
// runs two transactional groups over the same inputs (txnCrashGroups, one
// per ordering that moves the cursor differently) and is killed with
// SIGKILL at a random moment, most of its time being spent inside the
// handlers (each sleeps between its publishes); it is restarted on the
// same directory, cycle after cycle. After every kill the store is
// checked (txnCrashCheck): no output exists twice, an input's outputs are
// all stored or none, every input below a group's committed cursor has
// its outputs (or, poison, its dead letter), and in partition order no
// input at or past the cursor has any. After the last cycle an in-process
// bus finishes the work, and each input's outputs must exist exactly
// once per group; poison inputs are dead-lettered with no output after
// exactly the configured attempts; inputs that fail their first attempt
// are retried and publish once.
//
// The engine counts a delivery cut short by a crash as an attempt
// (ACCEPTANCE 20: a record that kills the process is dead-lettered at the
// limit, as JetStream counts every redelivery against MaxDeliver), so an
// input caught in its handler by several kills uses one attempt per kill.
// A kill costs at most one attempt of each input in flight, so the test
// allows cycles+2 attempts (every kill, the flaky failure, the success):
// a healthy input is then never dead-lettered, and one that is means the
// engine counted attempts it did not make. (With 3 attempts, kills landing
// within a few milliseconds of the child's start, as under heavy load,
// dead-lettered healthy inputs: the failures seen at load 40.)
//
// Environment:
//
//	ONEXBUS_TXN_CRASH_CYCLES    kills (default 10; 3 with -short or CI=true)
//	ONEXBUS_TXN_CRASH_SEED      seed of the kill delays (default: the clock; logged)
//	ONEXBUS_TXN_CRASH_CHILD     set by the parent: run as the child on that directory
//	ONEXBUS_TXN_CRASH_ATTEMPTS  set by the parent: the retry policy's MaxAttempts
const (
	txnCrashChildEnv  = "ONEXBUS_TXN_CRASH_CHILD"
	txnCrashCyclesEnv = "ONEXBUS_TXN_CRASH_CYCLES"
	txnCrashSeedEnv   = "ONEXBUS_TXN_CRASH_SEED"
	txnCrashAttEnv    = "ONEXBUS_TXN_CRASH_ATTEMPTS"
)

var txnCrashGroups = []struct {
	name     string
	ordering core.Ordering
}{{"tp", core.OrderPartition}, {"tk", core.OrderKey}}

// txnCrashPoison says input i always fails (it is dead-lettered); flaky
// inputs fail their first attempt only.
func txnCrashPoison(i int) bool { return i%50 == 49 }
func txnCrashFlaky(i int) bool  { return i%7 == 3 }

func txnCrashOptions(dir string, attempts int) []core.Option {
	return []core.Option{
		core.WithDataDir(dir),
		core.WithTopic(txnIn, core.TopicConfig{Partitions: 1}),
		core.WithTopic(txnOut, core.TopicConfig{Partitions: 3}),
		core.WithTopic(txnOutK, core.TopicConfig{Partitions: 2, Format: core.FormatKafka}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: attempts, Base: time.Millisecond, Max: 2 * time.Millisecond}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 0}),
	}
}

// txnCrashHandler publishes the input's three outputs, each valued
// "<group>/<input>/<n>", pausing between them so that kills land inside.
func txnCrashHandler(group string) core.Handler {
	return func(ctx context.Context, m *core.Message) error {
		i, err := strconv.Atoi(strings.TrimPrefix(string(m.Value), "in"))
		if err != nil {
			return core.Permanent(err)
		}
		tx := core.TxnFrom(ctx)
		for n, topic := range []string{txnOut, txnOut, txnOutK} {
			v := fmt.Sprintf("%s/%d/%d", group, i, n)
			if err := tx.Publish(ctx, &core.Message{Topic: topic, Key: []byte(v), Value: []byte(v)}); err != nil {
				return err
			}
			time.Sleep(200 * time.Microsecond)
		}
		if d, _ := core.Delivery(ctx); txnCrashPoison(i) || txnCrashFlaky(i) && d.Attempt == 1 {
			return errors.New("fails after publishing")
		}
		return nil
	}
}

// txnCrashSubscribe subscribes every group of the test on b.
func txnCrashSubscribe(ctx context.Context, b *core.Bus) error {
	for _, g := range txnCrashGroups {
		if _, err := b.Subscribe(ctx, txnIn, g.name, txnCrashHandler(g.name), core.SubscribeTransactional(),
			core.SubscribeStart(core.StartEarliest), core.SubscribeOrdering(g.ordering, 4)); err != nil {
			return err
		}
	}
	return nil
}

func TestTxnCrash(t *testing.T) {
	if dir := os.Getenv(txnCrashChildEnv); dir != "" {
		if err := txnCrashChild(dir, os.Getenv(txnCrashAttEnv)); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			t.Fatal(err)
		}
		return
	}
	cycles := 10
	if testing.Short() || os.Getenv("CI") == "true" {
		cycles = 3
	}
	if s := os.Getenv(txnCrashCyclesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", txnCrashCyclesEnv, s)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(txnCrashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", txnCrashSeedEnv, s)
		}
		seed = n
	}
	// Each kill costs an input in flight at most one attempt; the flaky
	// failure one more, and the success the last (see the comment above).
	attempts := cycles + 2
	// About 25 inputs a cycle, so that kills keep landing in handlers.
	inputs := max(200, 25*cycles)
	t.Logf("transaction kill test: %d inputs, %d cycles, %d attempts, seed %d (rerun with %s=%d)",
		inputs, cycles, attempts, seed, txnCrashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x74786e6b696c6c))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()

	b, err := core.New(txnCrashOptions(dir, attempts)...)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*core.Message
	for i := range inputs {
		msgs = append(msgs, &core.Message{Topic: txnIn, Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("in%d", i))})
	}
	if err := b.PublishBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	for cycle := range cycles {
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		runTxnCrashChild(t, exe, dir, attempts, delay)
		b, err := core.New(txnCrashOptions(dir, attempts)...)
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		st := txnCrashCheck(t, b, inputs, attempts)
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Fatalf("cycle %d (seed %d): the store broke an invariant after the kill", cycle, seed)
		}
		t.Logf("cycle %d: killed after %v; %d outputs and %d dead letters stored, cursors %v",
			cycle, delay, st.outputs, st.letters, st.cursors)
	}

	// The last life, in process: it finishes the inputs.
	b, err = core.New(txnCrashOptions(dir, attempts)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if err := txnCrashSubscribe(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Each group must keep moving: a minute without progress fails (a
	// loaded machine under -race takes minutes for the whole backlog, at
	// one fsync'd transaction per input and every retry of the poison).
	for _, g := range txnCrashGroups {
		for done := int64(-1); done < int64(inputs); {
			testutil.Eventually(t, time.Minute, func() bool {
				off, _, _ := b.CommittedOffset(g.name, txnIn, 0)
				if off > done {
					done = off
					return true
				}
				return false
			}, fmt.Sprintf("group %s handles the input at offset %d (of %d)", g.name, done, inputs))
		}
	}
	st := txnCrashCheck(t, b, inputs, attempts)
	if t.Failed() {
		t.Fatalf("seed %d: the last life broke an invariant", seed)
	}
	t.Logf("every input handled once (%d outputs), every poison input dead-lettered after %d attempts (%d letters)",
		st.outputs, attempts, st.letters)
}

// txnCrashState is what txnCrashCheck saw.
type txnCrashState struct {
	outputs int              // outputs stored
	cursors map[string]int64 // committed cursor by group
	letters int              // dead letters stored
}

// txnCrashCheck checks the invariants of the stored state of b, between
// lives or after the last (every cursor then at the end):
//   - no output is stored twice, and an input's three outputs are stored
//     together or not at all;
//   - a poison input has no output, and its dead letter (if any) has
//     exactly attempts attempts and the handler's error or the engine's
//     "used up before this run" reason;
//   - a healthy input is never dead-lettered;
//   - below a group's committed cursor every healthy input has its
//     outputs and every poison input its dead letter (the cursor never
//     runs ahead of the outputs);
//   - in partition order, no input at or past the cursor has an output
//     (the outputs never run ahead of the cursor; in key order a handled
//     mark can carry them past it);
//   - no output belongs to an input nobody published.
func txnCrashCheck(t *testing.T, b *core.Bus, inputs, attempts int) txnCrashState {
	t.Helper()
	ctx := context.Background()
	letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]dlq.Letter{}
	for _, l := range letters {
		dead[l.Group+"/"+string(l.Value)] = l
	}
	got := txnCrashOutputs(t, b)
	st := txnCrashState{cursors: map[string]int64{}, letters: len(letters)}
	for _, n := range got {
		st.outputs += n
	}
	for _, g := range txnCrashGroups {
		cur, _, err := b.CommittedOffset(g.name, txnIn, 0)
		if err != nil {
			t.Fatal(err)
		}
		st.cursors[g.name] = cur
		for i := range inputs {
			var counts [3]int
			for n := range counts {
				v := fmt.Sprintf("%s/%d/%d", g.name, i, n)
				counts[n] = got[v]
				delete(got, v)
			}
			l, isDead := dead[fmt.Sprintf("%s/in%d", g.name, i)]
			poison, below := txnCrashPoison(i), int64(i) < cur
			switch {
			case counts[0] > 1 || counts[1] > 1 || counts[2] > 1:
				t.Errorf("group %s input %d: outputs stored %v times", g.name, i, counts)
			case counts[0] != counts[1] || counts[1] != counts[2]:
				t.Errorf("group %s input %d: outputs stored %v times: torn", g.name, i, counts)
			case poison && counts[0] != 0:
				t.Errorf("group %s poison input %d: its failed calls' outputs were stored", g.name, i)
			case !poison && isDead:
				t.Errorf("group %s healthy input %d dead-lettered after %d attempts (of %d): %s", g.name, i, l.Attempts, attempts, l.Error)
			case poison && isDead && l.Attempts != attempts:
				t.Errorf("group %s poison input %d dead-lettered after %d attempts, want %d", g.name, i, l.Attempts, attempts)
			case poison && isDead && !strings.Contains(l.Error, "fails after publishing") && !strings.Contains(l.Error, "before this run of the process"):
				t.Errorf("group %s poison input %d dead-lettered with reason %q", g.name, i, l.Error)
			case below && poison && !isDead:
				t.Errorf("group %s: cursor %d passed poison input %d, which is not dead-lettered", g.name, cur, i)
			case below && !poison && counts[0] != 1:
				t.Errorf("group %s: cursor %d passed input %d, whose outputs are not stored", g.name, cur, i)
			case !below && g.ordering == core.OrderPartition && counts[0] != 0:
				t.Errorf("group %s: input %d has its outputs stored, the cursor %d is not past it", g.name, i, cur)
			}
		}
	}
	if len(got) > 0 {
		t.Errorf("outputs nobody published: %v", got)
	}
	return st
}

// txnCrashOutputs counts the stored outputs by value.
func txnCrashOutputs(t *testing.T, b *core.Bus) map[string]int {
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

// txnCrashChild subscribes the groups (attempts is the retry policy's
// MaxAttempts, in decimal), says ready and handles inputs until it is
// killed.
func txnCrashChild(dir, attempts string) error {
	n, err := strconv.Atoi(attempts)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", txnCrashAttEnv, attempts, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := core.New(txnCrashOptions(dir, n)...)
	if err != nil {
		return err
	}
	defer b.Close(context.Background())
	if err := txnCrashSubscribe(ctx, b); err != nil {
		return err
	}
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// runTxnCrashChild starts a child on dir (retrying each input up to
// attempts times) and kills it with SIGKILL delay after its ready line.
func runTxnCrashChild(t *testing.T, exe, dir string, attempts int, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestTxnCrash$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), txnCrashChildEnv+"="+dir, txnCrashAttEnv+"="+strconv.Itoa(attempts))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	var other []string // owned by the reader until done closes
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			if sc.Text() == "ready" && !seen {
				seen = true
				close(ready)
				continue
			}
			other = append(other, sc.Text())
		}
	}()
	select {
	case <-ready:
	case <-done:
		_ = cmd.Wait()
		t.Fatalf("child exited before its ready line:\n%s\n%s", strings.Join(other, "\n"), stderr.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		t.Fatalf("child not ready within a minute:\n%s", stderr.String())
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-done:
		_ = cmd.Wait()
		t.Fatalf("child exited before it was killed:\n%s\n%s", strings.Join(other, "\n"), stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	<-done
	err = cmd.Wait()
	if ps := cmd.ProcessState; ps == nil || ps.ExitCode() != -1 {
		t.Fatalf("child was not killed by the signal: %v\n%s", err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Fatalf("child stderr:\n%s", s)
	}
	if len(other) > 0 {
		t.Fatalf("unexpected child output:\n%s", strings.Join(other, "\n"))
	}
}
