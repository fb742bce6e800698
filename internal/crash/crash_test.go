package crash_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/checker"
)

// Knobs of TestCrashDaemon (make crash sets them).
const (
	cyclesEnv = "ONEXBUS_CRASH_CYCLES"
	seedEnv   = "ONEXBUS_CRASH_SEED"
	// rateEnv paces each producer to this many publishes a second (0 or
	// unset: as fast as it goes); make crash sets it for long runs, so
	// that the check after each cycle stays short.
	rateEnv = "ONEXBUS_CRASH_RATE"
	// forEnv bounds the run's wall time (a Go duration): no cycle starts
	// after it, and the final drain and check still run.
	forEnv = "ONEXBUS_CRASH_FOR"
	// defaultCycles keeps the run in make test short (about 10 s here).
	defaultCycles = 3
	// drainTimeout bounds the final drain of the consumer group.
	drainTimeout = 60 * time.Second
)

func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// TestCrashDaemon runs N cycles of: start the real onexbusd on one data
// directory, load it (kgo producers, an HTTP producer, a Kafka consumer
// group committing synchronously), kill -9 it at a random point, restart
// it and check the whole history against a final read of the log and the
// group's committed offsets. At the end the group drains the log: every
// acknowledged value must have been delivered. The seed is printed;
// ONEXBUS_CRASH_SEED replays a run's kill points.
func TestCrashDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	cycles := int(envInt(t, cyclesEnv, defaultCycles))
	seed := uint64(envInt(t, seedEnv, time.Now().UnixNano()))
	t.Logf("crash: %d cycles, seed %d (%s=%d replays the kill points)", cycles, seed, seedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dir := t.TempDir()
	w := &workload{h: &checker.History{}, lat: &latencies{}}
	if rate := envInt(t, rateEnv, 0); rate > 0 {
		w.pace = time.Second / time.Duration(rate)
	}
	began := time.Now()
	var deadline time.Time
	if v := os.Getenv(forEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", forEnv, v, err)
		}
		deadline = began.Add(d)
	}
	ran := 0
	for cycle := range cycles {
		if !deadline.IsZero() && time.Now().After(deadline) {
			t.Logf("crash: %s reached after %d of %d cycles", forEnv, cycle, cycles)
			break
		}
		ran++
		d := startDaemon(t, dir)
		if cycle > 0 {
			check(t, w, d, seed, cycle, "after restart")
		}
		stop := w.run(t, d, cycle)
		// A random kill point: some time into the load, past the first
		// acknowledgements most of the time but not always.
		time.Sleep(time.Duration(50+rng.IntN(1200)) * time.Millisecond)
		d.kill()
		stop()
		if (cycle+1)%50 == 0 {
			t.Logf("crash: %d cycles in %v, %d acknowledged so far", cycle+1, time.Since(began).Round(time.Second), w.acked.Load())
		}
	}
	d := startDaemon(t, dir)
	check(t, w, d, seed, ran, "after the last restart")
	drain(t, w, d)
	ends := finalRead(t, w.h, d)
	w.h.Drained(workGroup)
	r := w.h.Check(checker.Options{})
	if !r.OK() {
		t.Fatalf("seed %d, after the drain:\n%s", seed, r)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("SIGTERM exit code %d, want 0", code)
	}
	t.Logf("crash: %d kill -9 cycles in %v, seed %d, end offsets %v: %s", ran, time.Since(began).Round(time.Millisecond), seed, ends, r)
}

// check reads the log back and fails the test on any anomaly.
func check(t *testing.T, w *workload, d *daemon, seed uint64, cycle int, what string) {
	t.Helper()
	finalRead(t, w.h, d)
	if r := w.h.Check(checker.Options{}); !r.OK() {
		t.Fatalf("seed %d, cycle %d, %s:\n%s", seed, cycle, what, r)
	}
}

// drain runs a consumer of the group until its cursors reach the end of
// every partition.
func drain(t *testing.T, w *workload, d *daemon) {
	t.Helper()
	ends := finalRead(t, w.h, d)
	c := w.consumer(t, d, "drain")
	defer c.cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	caughtUp := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for p, end := range ends {
			if end > 0 && c.cursors[p] < end {
				return false
			}
		}
		return true
	}
	// The group may already be at the end: fetch its committed offsets.
	committed := committedOffsets(t, d)
	c.mu.Lock()
	for p, off := range committed {
		c.cursors[p] = off
	}
	c.mu.Unlock()
	c.loop(ctx, caughtUp)
	if !caughtUp() {
		t.Fatalf("group %s did not drain to %v within %v", workGroup, ends, drainTimeout)
	}
}
