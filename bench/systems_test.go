package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
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
			res, err := openLoop(ctx, inst, rec, s.senders(), latencySize, rate, dur)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.received.Load(); got != int64(rate*dur.Seconds()) {
				t.Fatalf("received %d messages, want %d", got, int64(rate*dur.Seconds()))
			}
			if res.Offered != rate || res.Achieved <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.SchedP99 < 0 ||
				res.PubP50 <= 0 || res.PubP99 < res.PubP50 || res.CPUPerMsg <= 0 {
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
	t.Setenv(loadsEnv, "none")
	if pcts, _, err = openLoopPlan(); err != nil || len(pcts) != 0 {
		t.Fatalf("none: %v %v", pcts, err)
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

// TestLatencyRunsLowestRateFirst checks the loads of a child: the shares
// of the peak and the class's rates, lowest offered rate first, so that
// no load follows a heavier one; the floor gets the rates only.
func TestLatencyRunsLowestRateFirst(t *testing.T) {
	mem := &system{class: "memory"}
	got := latencyRuns(mem, 300_000, []int{50, 90, 10}, classRates["memory"], []int{50}, []float64{10_000})
	var labels []string
	for i, r := range got {
		labels = append(labels, r.label)
		if i > 0 && r.rate < got[i-1].rate {
			t.Errorf("%s (%.0f msgs/s) runs after %s (%.0f msgs/s)", r.label, r.rate, got[i-1].label, got[i-1].rate)
		}
	}
	if want := "r10000 10% r50000 50% r200000 90%"; strings.Join(labels, " ") != want {
		t.Fatalf("loads %v, want %s", labels, want)
	}
	if got[3].rate != 150_000 {
		t.Fatalf("50%% of 300,000 msgs/s offered %.0f", got[3].rate)
	}
	floor := &system{class: "memory", floor: true}
	var fl []string
	for _, r := range latencyRuns(floor, 5_000_000, []int{50}, classRates["memory"], nil, nil) {
		fl = append(fl, r.label)
	}
	if want := "r10000 r50000 r200000"; strings.Join(fl, " ") != want {
		t.Fatalf("floor loads %v, want %s", fl, want)
	}
}

// TestLatencyRunsFixedTwins: a system with an elastic pool runs each load
// of fixedEnv a second time with its fixed pool, labelled "/fixed", right
// after its elastic twin; a system with a fixed pool runs no twin (its
// runs are the fixed ones already).
func TestLatencyRunsFixedTwins(t *testing.T) {
	elastic := &system{class: "durable", pubs: 16, maxPubs: elasticCap}
	var labels []string
	for _, r := range latencyRuns(elastic, 10_000, []int{50, 90}, []float64{1_000, 2_000}, []int{50}, []float64{1_000, 2_000}) {
		labels = append(labels, r.label)
		if r.fixed != strings.HasSuffix(r.label, fixedSuffix) {
			t.Errorf("%s: fixed = %v", r.label, r.fixed)
		}
	}
	if want := "r1000 r1000/fixed r2000 r2000/fixed 50% 50%/fixed 90%"; strings.Join(labels, " ") != want {
		t.Fatalf("loads %v, want %s", labels, want)
	}
	fixed := &system{class: "durable", pubs: 1}
	labels = nil
	for _, r := range latencyRuns(fixed, 10_000, []int{50}, []float64{1_000}, []int{50}, []float64{1_000}) {
		labels = append(labels, r.label)
	}
	if want := "r1000 50%"; strings.Join(labels, " ") != want {
		t.Fatalf("fixed pool: loads %v, want %s", labels, want)
	}
}

// TestSendersOfSystems: the durable class's synchronous publishers
// (onexbus, JetStream, JetStream SyncAlways) get an elastic pool from
// their 16 publishers up to elasticCap; every other latency system keeps
// a fixed pool of its pubs.
func TestSendersOfSystems(t *testing.T) {
	elastic := map[string]bool{"onexbus": true, "jetstream": true, "jetstream-syncalways": true}
	for _, s := range systems {
		got := s.senders()
		want := fixedSenders(s.pubs)
		if elastic[s.name] {
			want = senders{n: 16, max: elasticCap}
		}
		if got != want {
			t.Errorf("%s: senders %+v, want %+v", s.name, got, want)
		}
	}
}

// TestFixedLoads checks ONEXBUS_BENCH_FIXED: unset or none, no twin;
// shares and rates parsed; bad values refused.
func TestFixedLoads(t *testing.T) {
	for _, v := range []string{"", "none"} {
		t.Setenv(fixedEnv, v)
		if p, r, err := fixedLoads(); err != nil || p != nil || r != nil {
			t.Fatalf("%q: %v %v %v", v, p, r, err)
		}
	}
	t.Setenv(fixedEnv, "50%, r1000,r2000")
	p, r, err := fixedLoads()
	if err != nil || !slices.Equal(p, []int{50}) || !slices.Equal(r, []float64{1_000, 2_000}) {
		t.Fatalf("parsed: %v %v %v", p, r, err)
	}
	for _, bad := range []string{"50", "0%", "300%", "rfast", "r0", "1000", "50%,"} {
		t.Setenv(fixedEnv, bad)
		if _, _, err := fixedLoads(); err == nil {
			t.Errorf("%s=%q accepted", fixedEnv, bad)
		}
	}
}

// TestGrow checks how many publishers an elastic pool adds: one for each
// due message no idle publisher takes, never past its cap.
func TestGrow(t *testing.T) {
	for _, c := range []struct{ queued, idle, started, limit, want int }{
		{0, 0, 16, 1024, 0},
		{3, 5, 16, 1024, 0},     // idle publishers take them
		{5, 5, 16, 1024, 0},     // exactly enough
		{7, 2, 16, 1024, 5},     // five have nobody
		{40, 0, 1000, 1024, 24}, // the cap
		{10, 0, 1024, 1024, 0},  // at the cap
		{10, 0, 16, 16, 0},      // a fixed pool's numbers
	} {
		if got := grow(c.queued, c.idle, c.started, c.limit); got != c.want {
			t.Errorf("grow(%d queued, %d idle, %d started, cap %d) = %d, want %d", c.queued, c.idle, c.started, c.limit, got, c.want)
		}
	}
}

// gateInstance is a system whose publish waits at a gate until the test
// opens it, then hands the message to the subscriber: while it is
// closed, every publisher of an open-loop run is inside publish.
type gateInstance struct {
	gate    chan struct{}
	handled func([]byte)
	inside  atomic.Int64
	most    atomic.Int64 // the most publishers inside publish at once
}

func (g *gateInstance) publish(ctx context.Context, payload []byte) error {
	n := g.inside.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	defer g.inside.Add(-1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.handled(payload)
	return nil
}

func (g *gateInstance) close() error { return nil }

// TestOpenLoopElasticPool: while every publisher is held inside publish,
// each due message starts another publisher, up to the cap and never
// past it; once the system lets them go, every message is published once
// and the run reports how many publishers it used. A fixed pool never
// has more than its size inside publish.
func TestOpenLoopElasticPool(t *testing.T) {
	for _, c := range []struct {
		name string
		pool senders
	}{{"elastic", senders{n: 2, max: 8}}, {"fixed", fixedSenders(2)}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testutil.Context(t)
			rec := &latencyRecorder{}
			g := &gateInstance{gate: make(chan struct{}), handled: rec.handled}
			const rate, dur = 2_000.0, 100 * time.Millisecond
			type outcome struct {
				res loadResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := openLoop(ctx, g, rec, c.pool, latencySize, rate, dur)
				done <- outcome{res, err}
			}()
			testutil.Eventually(t, 10*time.Second, func() bool { return g.inside.Load() == int64(c.pool.max) },
				fmt.Sprintf("%d publishers inside publish", c.pool.max))
			close(g.gate)
			out := <-done
			if out.err != nil {
				t.Fatal(out.err)
			}
			if got := rec.received.Load(); got != int64(rate*dur.Seconds()) {
				t.Fatalf("received %d messages, want %d", got, int64(rate*dur.Seconds()))
			}
			if most := g.most.Load(); most != int64(c.pool.max) {
				t.Errorf("at most %d publishers inside publish, want %d", most, c.pool.max)
			}
			if out.res.Pubs != c.pool.max {
				t.Errorf("the run reports %d publishers, want %d", out.res.Pubs, c.pool.max)
			}
			if out.res.P99 < out.res.P50 || out.res.P50 <= 0 {
				t.Fatalf("implausible result %+v", out.res)
			}
		})
	}
}

// TestRunLoadFreshInstance checks that each load opens an instance of its
// own and closes it after the run (a second close of the bare channel
// reports errChanClosed).
func TestRunLoadFreshInstance(t *testing.T) {
	var opened []instance
	s := &system{class: "memory", name: "chan", pubs: 2, open: func(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
		inst, err := openChan(ctx, topic, handled)
		opened = append(opened, inst)
		return inst, err
	}}
	ctx := context.Background()
	for range 2 {
		res, err := runLoad(ctx, s, s.senders(), 1_000, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if res.Achieved <= 0 || res.P99 <= 0 {
			t.Fatalf("implausible result %+v", res)
		}
	}
	if len(opened) != 2 {
		t.Fatalf("%d instances opened for 2 loads", len(opened))
	}
	for i, inst := range opened {
		if err := inst.close(); !errors.Is(err, errChanClosed) {
			t.Errorf("instance %d still open after its load: close = %v", i, err)
		}
	}
}

// TestRunDurationMinSamples: a run lasts its duration, or long enough to
// offer minSamples messages at a low rate (at most maxStretch times the
// duration); quick mode keeps the duration.
func TestRunDurationMinSamples(t *testing.T) {
	t.Setenv(quickEnv, "")
	for _, c := range []struct {
		rate float64
		dur  time.Duration
		want time.Duration
	}{
		{10_000, 2 * time.Second, 2 * time.Second},
		{5_000, 2 * time.Second, 2 * time.Second},
		{2_000, 2 * time.Second, 5 * time.Second},
		{1_000, 2 * time.Second, 10 * time.Second},
		{1_000, 20 * time.Second, 20 * time.Second},
		{250, 2 * time.Second, 10 * time.Second}, // at most maxStretch times
	} {
		if got := runDuration(c.rate, c.dur); got != c.want {
			t.Errorf("runDuration(%.0f, %v) = %v, want %v", c.rate, c.dur, got, c.want)
		}
	}
	t.Setenv(quickEnv, "1")
	if got := runDuration(1_000, 500*time.Millisecond); got != 500*time.Millisecond {
		t.Errorf("quick: %v", got)
	}
}

// TestClassRatesOf checks ONEXBUS_BENCH_RATES: unset, the class's rates;
// set, its rates for every class; none, no rate; bad values refused.
func TestClassRatesOf(t *testing.T) {
	t.Setenv(ratesEnv, "")
	if got, err := classRatesOf("durable"); err != nil || !slices.Equal(got, classRates["durable"]) {
		t.Fatalf("unset: %v %v", got, err)
	}
	t.Setenv(ratesEnv, "100000, 2500")
	if got, err := classRatesOf("memory"); err != nil || !slices.Equal(got, []float64{100_000, 2_500}) {
		t.Fatalf("set: %v %v", got, err)
	}
	t.Setenv(ratesEnv, "none")
	if got, err := classRatesOf("memory"); err != nil || len(got) != 0 {
		t.Fatalf("none: %v %v", got, err)
	}
	for _, bad := range []string{"fast", "0", "-5", "1e9", "NaN", "1000,"} {
		t.Setenv(ratesEnv, bad)
		if _, err := classRatesOf("memory"); err == nil {
			t.Errorf("%s=%q accepted", ratesEnv, bad)
		}
	}
}
