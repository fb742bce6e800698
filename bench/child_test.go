package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of a child run: childEnv names the case, quickEnv (set by
// make bench-peers QUICK=1, and inherited) shortens its phases.
const (
	childEnv    = "ONEXBUS_BENCH_CHILD"
	quickEnv    = "ONEXBUS_BENCH_QUICK"
	childMarker = "ONEXBUS-BENCH-CHILD "
)

// A system is one case of BenchmarkSystems, run alone in a child process
// so that its peak memory is its own.
type system struct {
	class string // systems compared with each other: memory, durable, kafka, http
	name  string
	open  func(ctx context.Context, topic string, handled func([]byte)) (instance, error)
	// pubs is how many goroutines publish: all of the peak phase, and
	// the open-loop runs' fixed pool or the start of their elastic one.
	pubs int
	// maxPubs, above pubs, makes the open-loop runs' pool elastic, up to
	// maxPubs publishers (senders); 0 keeps a fixed pool of pubs.
	maxPubs int
	// msgs is the message count of the peak phase (quick: msgs/5), the
	// same within a class so that peaks compare.
	msgs int
	// latency: the peak phase runs end to end with a subscriber, then
	// open-loop runs at shares of that peak (loads) and at the class's
	// equal offered rates (classRates); otherwise the peak phase only
	// writes.
	latency bool
	// floor: the system is the scheduler's floor (the bare channel): no
	// shares of its own peak, which no bus approaches, only the rates.
	floor bool
}

// systems are the child cases, in report order; the first of each class
// is the subject of its ratios. Latency runs use 256-byte messages.
var systems = []system{
	{class: "memory", name: "onexbus-mem", open: openOnexbusBounded, pubs: 4, msgs: 300_000, latency: true},
	{class: "memory", name: "gochannel", open: openGoChannel, pubs: 4, msgs: 300_000, latency: true},
	{class: "memory", name: "chan", open: openChan, pubs: 4, msgs: 300_000, latency: true, floor: true},
	{class: "durable", name: "onexbus", open: openOnexbusDurable, pubs: 16, maxPubs: elasticCap, msgs: 20_000, latency: true},
	{class: "durable", name: "onexbus-async", open: openOnexbusAsync, pubs: 1, msgs: 200_000, latency: true},
	{class: "durable", name: "onexbus-batch", open: openOnexbusBatch, pubs: 16, msgs: 200_000},
	{class: "durable", name: "bbolt-key", open: openBboltKey, pubs: 16, msgs: 200_000},
	{class: "durable", name: "bbolt-chunk", open: openBboltChunk, pubs: 16, msgs: 200_000},
	{class: "durable", name: "jetstream", open: openJetStream, pubs: 16, maxPubs: elasticCap, msgs: 20_000, latency: true},
	// 20,000 messages at about 1,000/s would take 20 s: fewer.
	{class: "durable", name: "jetstream-syncalways", open: openJetStreamSyncAlways, pubs: 16, maxPubs: elasticCap, msgs: 5_000, latency: true},
	{class: "kafka", name: "onexbusd-kafka", open: openOnexbusdKafka, pubs: 4, msgs: 200_000, latency: true},
	{class: "kafka", name: "onexbusd-kafka-durable", open: openOnexbusdKafkaDurable, pubs: 4, msgs: 200_000, latency: true},
	{class: "kafka", name: "kgo-kfake", open: openKgoKfake, pubs: 4, msgs: 200_000, latency: true},
	{class: "kafka", name: "kgo-async", open: openKgoAsync, pubs: 4, msgs: 200_000},
	{class: "http", name: "onexbus-http", open: openHTTP, pubs: 16, msgs: 20_000, latency: true},
}

// elasticCap is the most publishers of an elastic open-loop pool: the
// synchronous publishers of the durable class (onexbus, JetStream and
// JetStream SyncAlways alike), whose Publish returns only once the
// message is stored. With a fixed pool of 16, a message due while all 16
// waited inside a commit waited in the harness's queue for one of them,
// a queue the system never saw (the bus would have taken it into its
// next commit); independent clients, or a server's handler goroutine per
// request, hand it over when it is due. The asynchronous publishers
// (onexbus-async, the kafka class's kgo producers, whose publish returns
// at once) and the HTTP row keep their fixed pools. The peak phase keeps
// its pubs publishers, so the shares of the peak are of the same peak.
const elasticCap = 1024

// senders is the open-loop pool of s: elastic from pubs to maxPubs, or
// fixed at pubs.
func (s *system) senders() senders {
	if s.maxPubs > s.pubs {
		return senders{n: s.pubs, max: s.maxPubs}
	}
	return fixedSenders(s.pubs)
}

// loads are the default offered loads of the open-loop runs, in percent
// of the system's own peak; ONEXBUS_BENCH_LOADS (comma-separated
// percentages) replaces them.
var loads = []int{10, 50, 90}

const latencySize = 256

// classRates are the offered rates (msgs/s) every latency system of a
// class runs at, so that the systems compare at equal load as well as at
// shares of their own peaks (which differ by up to 100x). They are fixed
// so that reports compare across runs, and low enough for the slowest
// system of the class (jetstream-syncalways does about 3,000/s).
var classRates = map[string][]float64{
	"memory":  {10_000, 50_000, 200_000},
	"durable": {1_000, 2_000},
	"kafka":   {5_000, 20_000},
}

// Environment of the open-loop runs: loadsEnv replaces loads, loadDurEnv
// the duration of each run (default 3 s, quick 0.5 s), systemsEnv
// (comma-separated names) runs only those systems in BenchmarkSystems.
const (
	loadsEnv   = "ONEXBUS_BENCH_LOADS"
	loadDurEnv = "ONEXBUS_BENCH_LOAD_DURATION"
	systemsEnv = "ONEXBUS_BENCH_SYSTEMS"
	// ratesEnv replaces every class's equal offered rates (classRatesOf).
	ratesEnv = "ONEXBUS_BENCH_RATES"
	// traceEnv names a file: the child writes a runtime execution trace
	// of its open-loop runs there (go tool trace; -pprof=sched shows the
	// scheduler latency of every goroutine, the open-loop scheduler's
	// among them).
	traceEnv = "ONEXBUS_BENCH_TRACE"
	// cpuProfileEnv names a file: the child writes a CPU profile of its
	// open-loop runs there (go tool pprof).
	cpuProfileEnv = "ONEXBUS_BENCH_CPUPROFILE"
	// fixedEnv names loads ("50%", "r1000", comma-separated) that a
	// system with an elastic pool also runs with the fixed pool of its
	// pubs publishers, labelled "<load>/fixed" (fixedSuffix): the
	// harness's figure before the elastic pool, kept so a reader can
	// compare.
	fixedEnv = "ONEXBUS_BENCH_FIXED"
)

// fixedSuffix ends the label of a run with the fixed pool of a system
// whose pool is elastic.
const fixedSuffix = "/fixed"

// fixedLoads parses fixedEnv: shares of the peak (pcts) and offered
// rates (msgs/s) to run again with a fixed pool.
func fixedLoads() (pcts []int, rates []float64, err error) {
	v := os.Getenv(fixedEnv)
	if v == "" || v == "none" {
		return nil, nil, nil
	}
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if p, ok := strings.CutSuffix(f, "%"); ok {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 200 {
				return nil, nil, fmt.Errorf("%s=%q: %q is no percentage in 1..200", fixedEnv, v, f)
			}
			pcts = append(pcts, n)
			continue
		}
		r, err := strconv.ParseFloat(strings.TrimPrefix(f, "r"), 64)
		if !strings.HasPrefix(f, "r") || err != nil || !(r >= 1 && r <= 10_000_000) {
			return nil, nil, fmt.Errorf("%s=%q: %q is neither a share (50%%) nor a rate (r1000)", fixedEnv, v, f)
		}
		rates = append(rates, r)
	}
	return pcts, rates, nil
}

// classRatesOf returns the equal offered rates of class: classRates, or
// the rates of ratesEnv (comma-separated msgs/s, for every class; none
// for no rate) when it is set.
func classRatesOf(class string) ([]float64, error) {
	v := os.Getenv(ratesEnv)
	switch v {
	case "":
		return classRates[class], nil
	case "none":
		return nil, nil
	}
	var rates []float64
	for f := range strings.SplitSeq(v, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(r >= 1 && r <= 10_000_000) {
			return nil, fmt.Errorf("%s=%q: want rates in 1..10,000,000 msgs/s, or none", ratesEnv, v)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// openLoopPlan returns the loads and the duration of each open-loop run.
func openLoopPlan() ([]int, time.Duration, error) {
	pcts, dur := loads, 3*time.Second
	if quick() {
		dur = 500 * time.Millisecond
	}
	if v := os.Getenv(loadsEnv); v == "none" {
		pcts = nil
	} else if v != "" {
		pcts = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || n > 200 {
				return nil, 0, fmt.Errorf("%s=%q: want percentages in 1..200, or none", loadsEnv, v)
			}
			pcts = append(pcts, n)
		}
	}
	if v := os.Getenv(loadDurEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, 0, fmt.Errorf("%s=%q: want a positive duration", loadDurEnv, v)
		}
		dur = d
	}
	return pcts, dur, nil
}

// selected reports whether BenchmarkSystems runs the named system.
func selected(name string) bool {
	v := os.Getenv(systemsEnv)
	if v == "" {
		return true
	}
	for f := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(f) == name {
			return true
		}
	}
	return false
}

// init runs after every variable initializer, forwarder_test.go's
// (which fills kafkaForwarderPeers) among them.
func init() {
	for _, p := range kafkaForwarderPeers {
		systems = append(systems, system{class: "kafka", name: p.name, open: p.open, pubs: 4, msgs: 200_000})
	}
}

func quick() bool { return os.Getenv(quickEnv) == "1" }

// childResult is what a child prints, after childMarker, as JSON.
type childResult struct {
	Msgs   int          `json:"msgs"`
	Peak   float64      `json:"peak_msgs_s"`
	RSSMB  float64      `json:"peak_rss_mb"`
	HeapMB float64      `json:"peak_heap_mb"`
	Loads  []loadResult `json:"loads"`
}

// TestMain runs one child case instead of the tests when childEnv is set.
func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		if err := runChild(name); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs the named system: the peak phase (msgs messages from pubs
// publishers, closed loop), the peaks of RSS (VmHWM) and Go heap at its
// end, then for a latency system one open-loop run per load (runLoad).
func runChild(name string) (err error) {
	var s *system
	for i := range systems {
		if systems[i].name == name {
			s = &systems[i]
		}
	}
	if s == nil {
		return fmt.Errorf("no system %q", name)
	}
	pcts, loadDur, err := openLoopPlan()
	if err != nil {
		return err
	}
	msgs := s.msgs
	if quick() {
		msgs = s.msgs / 5
	}
	heap := startHeapSampler()
	ctx := context.Background()
	rec := &latencyRecorder{}
	var handled func([]byte)
	if s.latency {
		handled = rec.handled
	}
	inst, err := s.open(ctx, "bench", handled)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			_ = inst.close()
		}
	}()
	payload := make([]byte, latencySize)
	// Warm-up: the topic exists and the subscriber is live.
	if err := inst.publish(ctx, payload); err != nil {
		return err
	}
	if s.latency {
		if err := rec.waitReceived(1, drainTimeout); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := writeN(ctx, inst, payload, msgs, s.pubs); err != nil {
		return err
	}
	if s.latency {
		if err := rec.waitReceived(int64(msgs)+1, drainTimeout); err != nil {
			return err
		}
	}
	res := childResult{Msgs: msgs, Peak: float64(msgs) / time.Since(start).Seconds()}
	res.HeapMB = float64(heap.stop()) / (1 << 20)
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	res.RSSMB = float64(hwm) / (1 << 20)
	closed = true
	if err := inst.close(); err != nil {
		return err
	}
	if s.latency {
		if path := os.Getenv(traceEnv); path != "" {
			stop, err := startTrace(path)
			if err != nil {
				return err
			}
			defer stop()
		}
		if path := os.Getenv(cpuProfileEnv); path != "" {
			stop, err := startCPUProfile(path)
			if err != nil {
				return err
			}
			defer stop()
		}
		if path := os.Getenv(mutexProfileEnv); path != "" {
			stopMutex, merr := startMutexProfile(path)
			if merr != nil {
				return merr
			}
			defer func() {
				if serr := stopMutex(); serr != nil && err == nil {
					err = serr // the named result: runChild's error
				}
			}()
		}
		rates, err := classRatesOf(s.class)
		if err != nil {
			return err
		}
		fixedPcts, fixedRates, err := fixedLoads()
		if err != nil {
			return err
		}
		for _, r := range latencyRuns(s, res.Peak, pcts, rates, fixedPcts, fixedRates) {
			pool := s.senders()
			if r.fixed {
				pool = fixedSenders(s.pubs)
			}
			lr, err := runLoad(ctx, s, pool, r.rate, runDuration(r.rate, loadDur))
			if err != nil {
				return fmt.Errorf("load %s (%.0f msgs/s): %w", r.label, r.rate, err)
			}
			lr.Label = r.label
			res.Loads = append(res.Loads, lr)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", childMarker, b)
	return nil
}

// minSamples is the fewest messages an open-loop run offers (outside quick
// mode): its p99 is then the 100th-worst latency or beyond, so that one
// stall of the machine (an fsync that takes 20 ms, a descheduled
// process) moves it less than it moved the 20th-worst of the 2,000
// messages of a 2-second run at 1,000 msgs/s, and rounds agree better.
const minSamples = 10_000

// runDuration is how long a run at rate lasts: dur, or long enough for
// minSamples messages, but at most maxStretch times dur (a share of a
// slow system's peak, 10% of 2,500 msgs/s, would take 40 s).
func runDuration(rate float64, dur time.Duration) time.Duration {
	if quick() || rate <= 0 {
		return dur
	}
	return max(dur, min(time.Duration(minSamples/rate*float64(time.Second)), maxStretch*dur))
}

// maxStretch bounds runDuration's stretch of a run.
const maxStretch = 5

// A latencyRun is one open-loop load of a child.
type latencyRun struct {
	label string  // "50%", "r10000" or "50%/fixed" (loadResult.Label)
	rate  float64 // msgs/s offered
	fixed bool    // with the fixed pool of a system whose pool is elastic
}

// latencyRuns are a latency system's open-loop loads, the shares pcts of
// its peak (none for the floor) and the rates (its class's), lowest rate first:
// whatever a run leaves behind that a fresh instance does not take away
// (the process's heap size and its scavenging, a peer's own leftovers)
// then comes from a lighter load, never from a 90% run's. A system with
// an elastic pool also runs the shares fixedPcts and the rates
// fixedRates with a fixed pool, each right after its elastic twin.
func latencyRuns(s *system, peak float64, pcts []int, rates []float64, fixedPcts []int, fixedRates []float64) []latencyRun {
	var runs []latencyRun
	share := func(pct int, fixed bool) latencyRun {
		r := latencyRun{fmt.Sprintf("%d%%", pct), peak * float64(pct) / 100, fixed}
		if fixed {
			r.label += fixedSuffix
		}
		return r
	}
	rateRun := func(rate float64, fixed bool) latencyRun {
		r := latencyRun{fmt.Sprintf("r%.0f", rate), rate, fixed}
		if fixed {
			r.label += fixedSuffix
		}
		return r
	}
	if !s.floor {
		for _, pct := range pcts {
			runs = append(runs, share(pct, false))
		}
	}
	for _, r := range rates {
		runs = append(runs, rateRun(r, false))
	}
	if s.senders().elastic() {
		if !s.floor {
			for _, pct := range fixedPcts {
				runs = append(runs, share(pct, true))
			}
		}
		for _, r := range fixedRates {
			runs = append(runs, rateRun(r, true))
		}
	}
	slices.SortStableFunc(runs, func(a, b latencyRun) int {
		if c := cmp.Compare(a.rate, b.rate); c != 0 {
			return c
		}
		return cmp.Compare(btoi(a.fixed), btoi(b.fixed))
	})
	return runs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runLoad measures one open-loop load, published by pool, on a fresh instance of s, opened
// after a collection (debug.FreeOSMemory), warmed up with one message and closed after the run:
// each load starts from the same state, as a real deployment at that rate
// would, instead of inheriting the peak phase's and the previous loads'
// stored messages (the memory bus keeps up to childRetention of them, and
// the collector scans what it keeps), their backlog and their garbage.
// Every system gets the same, so the rows of a class still compare.
func runLoad(ctx context.Context, s *system, pool senders, rate float64, dur time.Duration) (loadResult, error) {
	// A collection that also returns the freed heap to the OS: what the
	// previous instance left is neither swept nor scavenged during this
	// run, as in a fresh process.
	debug.FreeOSMemory()
	rec := &latencyRecorder{}
	inst, err := s.open(ctx, "bench", rec.handled)
	if err != nil {
		return loadResult{}, err
	}
	if err := inst.publish(ctx, make([]byte, latencySize)); err != nil {
		_ = inst.close()
		return loadResult{}, err
	}
	if err := rec.waitReceived(1, drainTimeout); err != nil {
		_ = inst.close()
		return loadResult{}, err
	}
	lr, err := openLoop(ctx, inst, rec, pool, latencySize, rate, dur)
	if cerr := inst.close(); err == nil {
		err = cerr
	}
	return lr, err
}

// startTrace starts a runtime execution trace into path; stop ends it
// and closes the file.
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", traceEnv, err)
	}
	if err := trace.Start(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", traceEnv, err)
	}
	return func() { trace.Stop(); _ = f.Close() }, nil
}

// startCPUProfile starts a CPU profile into path; stop ends it and closes
// the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// heapSampler records the peak of the Go heap's object bytes, sampled
// every 5 ms (a peak between two samples is missed).
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.wg.Go(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	})
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}

// BenchmarkSystems runs each system in a child process (this test binary
// re-executed with childEnv set) and reports its peak throughput at
// latencySize bytes, its peak RSS and Go heap over that phase, and for
// latency systems the open-loop latency percentiles at each load. One
// child per run: the child takes longer than -benchtime, so b.N is 1.
func BenchmarkSystems(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range systems {
		if !selected(s.name) {
			continue
		}
		b.Run(fmt.Sprintf("class=%s/sys=%s", s.class, s.name), func(b *testing.B) {
			// One child per call whatever b.N is, padded to -benchtime
			// so that the framework does not call again with a bigger N.
			start := time.Now()
			res := runChildProcess(b, exe, s.name)
			time.Sleep(benchTime() - time.Since(start))
			b.ReportMetric(res.Peak, "peak-msgs/s")
			b.ReportMetric(float64(res.Msgs), "msgs")
			b.ReportMetric(res.RSSMB, "peak-rss-MB")
			b.ReportMetric(res.HeapMB, "peak-heap-MB")
			for _, lr := range res.Loads {
				sfx := "@" + lr.Label
				b.ReportMetric(lr.Offered, "offered-msgs/s"+sfx)
				b.ReportMetric(lr.Achieved, "msgs/s"+sfx)
				b.ReportMetric(lr.P50, "p50-us"+sfx)
				b.ReportMetric(lr.P99, "p99-us"+sfx)
				b.ReportMetric(lr.P999, "p99.9-us"+sfx)
				b.ReportMetric(lr.SchedP99, "sched-p99-us"+sfx)
				b.ReportMetric(lr.PubP50, "pub-p50-us"+sfx)
				b.ReportMetric(lr.PubP99, "pub-p99-us"+sfx)
				b.ReportMetric(lr.CPUPerMsg, "cpu-ns/msg"+sfx)
				b.ReportMetric(float64(lr.Pubs), "pubs"+sfx)
			}
		})
	}
}

// benchTime is -test.benchtime as a duration, or 0 for an iteration
// count (Nx).
func benchTime() time.Duration {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 0
	}
	d, err := time.ParseDuration(f.Value.String())
	if err != nil {
		return 0
	}
	return d
}

func runChildProcess(b *testing.B, exe, name string) childResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child %s: %v\n%s", name, err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), childMarker); ok {
			var res childResult
			if err := json.Unmarshal([]byte(v), &res); err != nil {
				b.Fatalf("child %s: %v", name, err)
			}
			return res
		}
	}
	b.Fatalf("child %s printed no result:\n%s", name, out)
	return childResult{}
}
