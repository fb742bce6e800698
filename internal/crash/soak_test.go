package crash_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/checker"
)

// Knobs of TestSoak (make soak sets them).
const (
	soakDurationEnv = "ONEXBUS_SOAK_DURATION"
	soakIntervalEnv = "ONEXBUS_SOAK_INTERVAL"
	soakOutEnv      = "ONEXBUS_SOAK_OUT"
	soakRateEnv     = "ONEXBUS_SOAK_RATE"
	soakRetainEnv   = "ONEXBUS_SOAK_RETENTION"
)

// sample is one row of the soak's CSV.
type sample struct {
	at         time.Duration
	heapLive   float64 // go_gc_heap_live_bytes: marked live by the last GC
	heapInuse  float64 // go_memstats_heap_inuse_bytes: at the sampling moment
	rss        float64 // VmRSS
	goroutines float64
	openFiles  float64
	p99        float64 // publish latency, ms, over the period
	publishes  float64 // acknowledged in the period
	disk       float64 // bytes under the data directory
	load1      float64 // the machine's 1-minute load average (/proc/loadavg)
}

var soakColumns = []string{"seconds", "heap_live_bytes", "heap_inuse_bytes", "rss_bytes", "goroutines", "open_files", "p99_ms", "acked", "disk_bytes", "load1"}

func (s sample) row() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{f(s.at.Seconds()), f(s.heapLive), f(s.heapInuse), f(s.rss), f(s.goroutines), f(s.openFiles), f(s.p99), f(s.publishes), f(s.disk), f(s.load1)}
}

func (s sample) values() []float64 {
	return []float64{s.heapLive, s.heapInuse, s.rss, s.goroutines, s.openFiles, s.p99, s.publishes, s.disk, s.load1}
}

// TestSoak runs mixed load (kgo and HTTP producers, a Kafka consumer
// group) on onexbusd for ONEXBUS_SOAK_DURATION, sampling the daemon's
// heap, RSS, goroutines, open files, the publish p99 and the data
// directory's size every ONEXBUS_SOAK_INTERVAL into soak.csv and soak.svg
// under ONEXBUS_SOAK_OUT, then drains the group and checks the history.
// Flat means the median of the last quarter within 10% of the second
// quarter's: the live heap, goroutines and open files must be flat; every
// column's ratio is logged. Skipped unless the duration is set (make soak).
//
// The heap judged is go_gc_heap_live_bytes, what the last GC found
// reachable: it grows only if the process keeps more. The heap in use at
// the sampling moment (go_memstats_heap_inuse_bytes, also in the CSV)
// swings between the live heap and the GC's goal (GOGC=100: up to twice
// the live heap), so two quarters' medians of it differ with the phase
// of the GC cycle at the sampling moments, leak or not (session 2's
// 10-minute soak, results/soak-10m.*, judged heap in use: x1.24).
func TestSoak(t *testing.T) {
	durText := os.Getenv(soakDurationEnv)
	if durText == "" {
		t.Skipf("set %s (make soak DURATION=1h)", soakDurationEnv)
	}
	dur, err := time.ParseDuration(durText)
	if err != nil {
		t.Fatalf("%s=%q: %v", soakDurationEnv, durText, err)
	}
	interval := 5 * time.Second
	if v := os.Getenv(soakIntervalEnv); v != "" {
		if interval, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s=%q: %v", soakIntervalEnv, v, err)
		}
	}
	out := os.Getenv(soakOutEnv)
	if out == "" {
		out = t.TempDir()
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Retention keeps the log (and so the disk, the mmap in RSS and the
	// chunk indexes in the heap) bounded, as in production: without it
	// nothing can be flat (results/soak-12m-unbounded.* show the growth).
	d := startDaemon(t, dir, "--retention-messages", strconv.FormatInt(envInt(t, soakRetainEnv, 20_000), 10))
	w := &workload{h: &checker.History{}, lat: &latencies{}, pace: time.Second / time.Duration(envInt(t, soakRateEnv, 300))}
	stop := w.run(t, d, 0)
	began := time.Now()
	var samples []sample
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for time.Since(began) < dur {
		<-ticker.C
		s := sampleDaemon(t, d, dir)
		s.at = time.Since(began)
		p99, n := w.lat.take()
		s.p99, s.publishes = float64(p99.Microseconds())/1000, float64(n)
		samples = append(samples, s)
	}
	stop()
	writeSoak(t, out, samples)

	// Nothing lost: the group drains what retention kept, and every
	// acknowledged value still in the log must be in the final read.
	drain(t, w, d)
	finalRead(t, w.h, d)
	r := w.h.Check(checker.Options{})
	// Retention removed the oldest records: the final read says where
	// each partition starts, and only what lies above counts as lost.
	if !r.OK() {
		t.Errorf("soak history:\n%s", r)
	}
	t.Logf("soak: %v, %d samples, %s", dur, len(samples), r)

	q := len(samples) / 4
	if q < 1 {
		t.Logf("soak: %d samples, too few to judge flatness", len(samples))
		return
	}
	second, last := samples[q:2*q], samples[len(samples)-q:]
	for i, name := range soakColumns[1:] {
		a, b := median(second, i), median(last, i)
		ratio := 0.0
		if a != 0 {
			ratio = b / a
		}
		flat := a == 0 && b == 0 || ratio >= 0.9 && ratio <= 1.1
		t.Logf("soak: %-17s second quarter %12.1f  last quarter %12.1f  ratio %.3f flat=%v", name, a, b, ratio, flat)
		switch name {
		case "heap_live_bytes", "goroutines", "open_files":
			if !flat && b > a {
				t.Errorf("%s grew: median %.0f in the second quarter, %.0f in the last", name, a, b)
			}
		}
	}
}

func median(s []sample, col int) float64 {
	v := make([]float64, len(s))
	for i := range s {
		v[i] = s[i].values()[col]
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// sampleDaemon reads the daemon's /metrics and /proc entries and sizes
// its data directory.
func sampleDaemon(t *testing.T, d *daemon, dir string) sample {
	t.Helper()
	var s sample
	pid := d.cmd.Process.Pid
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				s.rss = kb * 1024
			}
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(la)); len(f) > 0 {
			s.load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.openFiles = float64(len(fds))
	}
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				s.disk += float64(info.Size())
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("soak: /metrics: %v", err)
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_gc_heap_live_bytes":
			s.heapLive = v
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = v
		case "go_goroutines":
			s.goroutines = v
		}
	}
	return s
}

// writeSoak writes soak.csv and soak.svg (one small chart per column).
func writeSoak(t *testing.T, out string, samples []sample) {
	t.Helper()
	f, err := os.Create(filepath.Join(out, "soak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(f)
	_ = cw.Write(soakColumns)
	for _, s := range samples {
		_ = cw.Write(s.row())
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "soak.svg"), soakSVG(samples), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: wrote %s and %s", filepath.Join(out, "soak.csv"), filepath.Join(out, "soak.svg"))
}

// soakSVG draws each column against time in its own panel, scaled from 0
// to its maximum, with the second and last quarters shaded.
func soakSVG(samples []sample) []byte {
	const w, ph, pad, left = 760, 110, 24, 150
	cols := soakColumns[1:]
	h := pad + len(cols)*(ph+pad)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	if len(samples) == 0 {
		b.WriteString("</svg>\n")
		return []byte(b.String())
	}
	end := samples[len(samples)-1].at.Seconds()
	if end <= 0 {
		end = 1
	}
	pw := float64(w - left - pad)
	for i, name := range cols {
		top := float64(pad + i*(ph+pad))
		maxV := 0.0
		for _, s := range samples {
			if v := s.values()[i]; v > maxV {
				maxV = v
			}
		}
		if maxV == 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="#eef" />`+"\n", left+int(pw/4), top, pw/4, ph)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="#eef" />`+"\n", left+int(3*pw/4), top, pw/4, ph)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, top, pw, ph)
		fmt.Fprintf(&b, `<text x="4" y="%.0f">%s</text><text x="4" y="%.0f" fill="#666">max %.4g</text>`+"\n", top+14, name, top+28, maxV)
		b.WriteString(`<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="`)
		for _, s := range samples {
			x := float64(left) + s.at.Seconds()/end*pw
			y := top + float64(ph) - s.values()[i]/maxV*float64(ph)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		b.WriteString(`"/>` + "\n")
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">time 0..%.0fs; shaded: second and last quarters (flat: last within 10%% of second)</text>`+"\n", left, h-6, end)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
