package bench

import (
	"context"
	"testing"
	"time"
)

// TestSystemsOpenLoop runs every latency system of BenchmarkSystems
// through a short open-loop run: every scheduled message reaches the
// subscriber, each carries its stamp (so the latencies are recorded), and
// the run reports its rate, its percentiles and the scheduler's lateness.
func TestSystemsOpenLoop(t *testing.T) {
	for _, s := range systems {
		if !s.latency {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rec := &latencyRecorder{}
			inst, err := s.open(ctx, "bench", rec.handled)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := inst.close(); err != nil {
					t.Error(err)
				}
			}()
			const rate, dur = 500.0, 200 * time.Millisecond
			res, err := openLoop(ctx, inst, rec, s.pubs, latencySize, rate, dur)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.received.Load(); got != int64(rate*dur.Seconds()) {
				t.Fatalf("received %d messages, want %d", got, int64(rate*dur.Seconds()))
			}
			if res.Offered != rate || res.Achieved <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.SchedP99 < 0 ||
				res.PubP50 <= 0 || res.PubP99 < res.PubP50 {
				t.Fatalf("implausible result %+v", res)
			}
		})
	}
}

// TestOpenLoopPlan checks the environment that shapes the open-loop
// runs: the defaults, replaced loads and duration, and refused values.
func TestOpenLoopPlan(t *testing.T) {
	t.Setenv(quickEnv, "")
	pcts, dur, err := openLoopPlan()
	if err != nil || len(pcts) != 3 || pcts[1] != 50 || dur != 3*time.Second {
		t.Fatalf("defaults: %v %v %v", pcts, dur, err)
	}
	t.Setenv(loadsEnv, "50, 90")
	t.Setenv(loadDurEnv, "1500ms")
	pcts, dur, err = openLoopPlan()
	if err != nil || len(pcts) != 2 || pcts[0] != 50 || pcts[1] != 90 || dur != 1500*time.Millisecond {
		t.Fatalf("replaced: %v %v %v", pcts, dur, err)
	}
	for _, bad := range []struct{ env, v string }{{loadsEnv, "fifty"}, {loadsEnv, "0"}, {loadDurEnv, "-1s"}, {loadDurEnv, "soon"}} {
		t.Setenv(loadsEnv, "")
		t.Setenv(loadDurEnv, "")
		t.Setenv(bad.env, bad.v)
		if _, _, err := openLoopPlan(); err == nil {
			t.Errorf("%s=%q accepted", bad.env, bad.v)
		}
	}
}

// TestSelected checks ONEXBUS_BENCH_SYSTEMS.
func TestSelected(t *testing.T) {
	t.Setenv(systemsEnv, "")
	if !selected("chan") {
		t.Fatal("empty selection must select everything")
	}
	t.Setenv(systemsEnv, "onexbus, chan")
	if !selected("chan") || !selected("onexbus") || selected("onexbus-mem") {
		t.Fatal("selection by name")
	}
}
