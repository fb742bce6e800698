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
// same directory, cycle after cycle. After every kill the stored outputs
// are checked: none exists twice. After the last cycle an in-process bus
// finishes the work, and each input's outputs must exist exactly once
// per group, or (poison inputs, and inputs whose attempts the kills used
// up) the input is dead-lettered and has no output at all; inputs that
// fail their first attempt are retried and publish once.
//
// Environment:
//
//	ONEXBUS_TXN_CRASH_CYCLES  kills (default 10; 3 with -short or CI=true)
//	ONEXBUS_TXN_CRASH_SEED    seed of the kill delays (default: the clock; logged)
//	ONEXBUS_TXN_CRASH_CHILD   set by the parent: run as the child on that directory
const (
	txnCrashChildEnv  = "ONEXBUS_TXN_CRASH_CHILD"
	txnCrashCyclesEnv = "ONEXBUS_TXN_CRASH_CYCLES"
	txnCrashSeedEnv   = "ONEXBUS_TXN_CRASH_SEED"
)

var txnCrashGroups = []struct {
	name     string
	ordering core.Ordering
}{{"tp", core.OrderPartition}, {"tk", core.OrderKey}}

// txnCrashPoison says input i always fails (it is dead-lettered); flaky
// inputs fail their first attempt only.
func txnCrashPoison(i int) bool { return i%50 == 49 }
func txnCrashFlaky(i int) bool  { return i%7 == 3 }

func txnCrashOptions(dir string) []core.Option {
	return []core.Option{
		core.WithDataDir(dir),
		core.WithTopic(txnIn, core.TopicConfig{Partitions: 1}),
		core.WithTopic(txnOut, core.TopicConfig{Partitions: 3}),
		core.WithTopic(txnOutK, core.TopicConfig{Partitions: 2, Format: core.FormatKafka}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}),
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
		if err := txnCrashChild(dir); err != nil {
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
	// About 25 inputs a cycle, so that kills keep landing in handlers.
	txnCrashInputs := max(200, 25*cycles)
	t.Logf("transaction kill test: %d inputs, %d cycles, seed %d (rerun with %s=%d)", txnCrashInputs, cycles, seed, txnCrashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x74786e6b696c6c))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()

	b, err := core.New(txnCrashOptions(dir)...)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []*core.Message
	for i := range txnCrashInputs {
		inputs = append(inputs, &core.Message{Topic: txnIn, Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("in%d", i))})
	}
	if err := b.PublishBatch(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	for cycle := range cycles {
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		runTxnCrashChild(t, exe, dir, delay)
		b, err := core.New(txnCrashOptions(dir)...)
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		got := txnCrashOutputs(t, b)
		cur := map[string]int64{}
		for _, g := range txnCrashGroups {
			cur[g.name], _, _ = b.CommittedOffset(g.name, txnIn, 0)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for v, n := range got {
			if n > 1 {
				t.Fatalf("cycle %d (seed %d): output %s stored %d times", cycle, seed, v, n)
			}
		}
		t.Logf("cycle %d: killed after %v; %d outputs stored, cursors %v", cycle, delay, len(got), cur)
	}

	// The last life, in process: it finishes the inputs.
	b, err = core.New(txnCrashOptions(dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if err := txnCrashSubscribe(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, g := range txnCrashGroups {
		testutil.Eventually(t, time.Minute, func() bool {
			off, _, _ := b.CommittedOffset(g.name, txnIn, 0)
			return off >= int64(txnCrashInputs)
		}, "group "+g.name+" handles every input")
	}
	// Every input is handled exactly once (its three outputs stored once)
	// or dead-lettered with no output at all: poison inputs always, and
	// an input the kills caught in its handler until its attempts ran out
	// (the engine counts a delivery cut short by a crash as an attempt, so
	// that a message that kills the process cannot loop forever).
	letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]dlq.Letter{}
	for _, l := range letters {
		dead[l.Group+"/"+string(l.Value)] = l
	}
	got := txnCrashOutputs(t, b)
	cutShort := 0
	for _, g := range txnCrashGroups {
		for i := range txnCrashInputs {
			l, isDead := dead[fmt.Sprintf("%s/in%d", g.name, i)]
			switch {
			case txnCrashPoison(i) && !isDead:
				t.Errorf("group %s: poison input %d not dead-lettered", g.name, i)
			case !txnCrashPoison(i) && isDead && !strings.Contains(l.Error, "before this run of the process"):
				t.Errorf("group %s: healthy input %d dead-lettered: %s", g.name, i, l.Error)
			case !txnCrashPoison(i) && isDead:
				cutShort++
			}
			want := 1
			if isDead {
				want = 0
			}
			for n := range 3 {
				v := fmt.Sprintf("%s/%d/%d", g.name, i, n)
				if got[v] != want {
					t.Errorf("output %s stored %d times, want %d (dead-lettered: %v)", v, got[v], want, isDead)
				}
				delete(got, v)
			}
		}
	}
	if len(got) > 0 {
		t.Errorf("outputs nobody published: %v", got)
	}
	t.Logf("every input handled once or dead-lettered without outputs; %d healthy inputs ran out of attempts to the kills", cutShort)
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

// txnCrashChild subscribes the groups, says ready and handles inputs
// until it is killed.
func txnCrashChild(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := core.New(txnCrashOptions(dir)...)
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

// runTxnCrashChild starts a child on dir and kills it with SIGKILL delay
// after its ready line.
func runTxnCrashChild(t *testing.T, exe, dir string, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestTxnCrash$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), txnCrashChildEnv+"="+dir)
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
