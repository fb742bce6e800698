package wal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

// Chunk extension crash test knobs; see TestChunkExtensionCrash.
const (
	extendCrashChildEnv  = "ONEXBUS_WAL_EXTEND_CRASH_CHILD"
	extendCrashCyclesEnv = "ONEXBUS_WAL_EXTEND_CRASH_CYCLES"
	extendCrashSeedEnv   = "ONEXBUS_WAL_EXTEND_CRASH_SEED"
	extendCrashAppenders = 4
)

// TestChunkExtensionCrash kills a process while its commits fill chunks
// across commits: the test binary runs itself as a child that appends one
// record at a time from extendCrashAppenders goroutines under PolicySync
// on a bbolt file (so every commit adds to the trailing run of small
// chunks, and every 25 or so merges it into one chunk) and
// prints an ack line the moment each Append returns. The parent kills it
// with SIGKILL at a random moment, reopens the file and checks that
//   - every acked record is stored at its acked offset with its payload,
//     and every record reads back with its CRC intact (no damage at all);
//   - offsets are dense from 0 to the end;
//   - the chunks filled across commits, lives included: every chunk
//     before the trailing run (the newest chunks that together hold at
//     most 100 records) holds at least 90 of its 100 records.
//
// Environment:
//
//	ONEXBUS_WAL_EXTEND_CRASH_CYCLES  cycles (default 8; 3 with -short or CI=true)
//	ONEXBUS_WAL_EXTEND_CRASH_SEED    seed of the kill delays (default: the clock; logged)
func TestChunkExtensionCrash(t *testing.T) {
	if dir := os.Getenv(extendCrashChildEnv); dir != "" {
		if err := extendCrashChild(dir); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			t.Fatal(err)
		}
		return
	}
	cycles := 8
	if testing.Short() || os.Getenv("CI") == "true" {
		cycles = 3
	}
	if s := os.Getenv(extendCrashCyclesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", extendCrashCyclesEnv, s)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(extendCrashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", extendCrashSeedEnv, s)
		}
		seed = n
	}
	t.Logf("chunk extension crash test: %d cycles, seed %d (rerun with %s=%d)", cycles, seed, extendCrashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x657874656e64))
	dir := t.TempDir()
	acked := map[int64]string{}
	for cycle := range cycles {
		delay := time.Duration(50+rng.IntN(251)) * time.Millisecond
		got := runExtendCrashChild(t, dir, delay)
		for off, payload := range got {
			acked[off] = payload
		}
		end, chunks := verifyExtendCrash(t, dir, acked)
		t.Logf("cycle %d: killed %v after ready, %d acks, %d records in %d chunks", cycle, delay, len(got), end, chunks)
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d)", cycle, seed)
		}
	}
}

// extendCrashChild appends until it is killed. Payloads name the life
// (the end offset it started at) and the appender, so no two are equal.
func extendCrashChild(dir string) error {
	st, l, err := openExtendCrashLog(dir)
	if err != nil {
		return err
	}
	defer func() { _ = errors.Join(l.Close(context.Background()), st.Close()) }()
	if _, ok := l.Topic("f"); !ok {
		if _, err := l.CreateTopic("f", wal.TopicConfig{Partitions: 1}); err != nil {
			return err
		}
	}
	_, life, err := l.Offsets("f", 0)
	if err != nil {
		return err
	}
	var mu sync.Mutex // serialises the ack lines
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	if err := out.Flush(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, extendCrashAppenders)
	for a := range extendCrashAppenders {
		wg.Go(func() {
			for i := 0; ; i++ {
				payload := fmt.Sprintf("life-%d-appender-%d-record-%d", life, a, i)
				rec := []wal.Record{{Timestamp: time.Now().UnixNano(), Payload: []byte(payload)}}
				if err := l.Append(context.Background(), "f", 0, rec); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %s\n", rec[0].Offset, payload)
				err := out.Flush()
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	return <-errs
}

func openExtendCrashLog(dir string) (*bolt.Store, *wal.Log, error) {
	st, err := bolt.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		return nil, nil, err
	}
	l, err := wal.Open(st)
	if err != nil {
		return nil, nil, errors.Join(err, st.Close())
	}
	return st, l, nil
}

// runExtendCrashChild starts a child on dir, kills it delay after its
// ready line and returns its acks, offset -> payload.
func runExtendCrashChild(t *testing.T, dir string, delay time.Duration) map[int64]string {
	t.Helper()
	cmd, stdout, stderr := startChild(t, "TestChunkExtensionCrash", extendCrashChildEnv, dir)
	// The reader owns acks, other and parseErr until it closes done.
	var (
		other    []string
		parseErr error
	)
	acks := map[int64]string{}
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
				var off int64
				var payload string
				if _, err := fmt.Sscanf(line, "ack %d %s", &off, &payload); err != nil && parseErr == nil {
					parseErr = fmt.Errorf("malformed ack %q: %w", line, err)
				}
				acks[off] = payload
			case line == "ready" && !readySeen:
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

// verifyExtendCrash reopens dir and checks the records against every ack
// so far, and the chunk layout. It returns the end offset and the number
// of chunks.
func verifyExtendCrash(t *testing.T, dir string, acked map[int64]string) (int64, int) {
	t.Helper()
	ctx := context.Background()
	st, l, err := openExtendCrashLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := errors.Join(l.Close(ctx), st.Close()); err != nil {
			t.Error(err)
		}
	}()
	got, damaged, err := readEvery(l, "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(damaged) != 0 {
		t.Errorf("damage after a kill: %v", damaged)
	}
	_, end, err := l.Offsets("f", 0)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != end {
		t.Errorf("%d records below the end %d: not dense", len(got), end)
	}
	for off, payload := range acked {
		if got[off] != payload {
			t.Errorf("acked %q at %d, stored %q", payload, off, got[off])
		}
	}
	spans := chunkSpans(t, st, "f")
	firsts := slices.Sorted(maps.Keys(spans))
	run := len(firsts) // firsts[run:] is the trailing run
	for held := int64(0); run > 0 && held+spans[firsts[run-1]] <= 100; run-- {
		held += spans[firsts[run-1]]
	}
	for _, first := range firsts[:run] {
		if n := spans[first]; n < 90 {
			t.Errorf("chunk at %d holds %d records: chunks did not fill (%v)", first, n, spans)
		}
	}
	return end, len(spans)
}
