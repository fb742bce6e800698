package node

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// usageProbe measures the process's memory and CPU use between calls.
type usageProbe struct {
	mu       sync.Mutex // protects lastWall and lastCPU
	lastWall time.Time
	lastCPU  time.Duration
	samples  []metrics.Sample
}

func newUsageProbe() *usageProbe {
	p := &usageProbe{samples: []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
	p.lastWall = time.Now()
	p.lastCPU, _ = processCPU()
	return p
}

// sample returns the memory the Go runtime holds from the OS (total less
// what it released) in MiB, and the CPU used since the previous sample as
// a percentage of the machine (all cores), 0..100.
func (p *usageProbe) sample() (memMB, cpuPercent float64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	metrics.Read(p.samples)
	total, released := p.samples[0].Value.Uint64(), p.samples[1].Value.Uint64()
	memMB = float64(total-min(released, total)) / (1 << 20)
	cpu, cpuOK := processCPU()
	now := time.Now()
	wall := now.Sub(p.lastWall)
	if cpuOK && wall > 0 {
		cpuPercent = 100 * (cpu - p.lastCPU).Seconds() / (wall.Seconds() * float64(runtime.NumCPU()))
	}
	p.lastWall, p.lastCPU = now, cpu
	return memMB, min(max(cpuPercent, 0), 100), true
}
