package core_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// BenchmarkEndToEnd measures publish-to-handler throughput on the memory
// bus: 1 publisher, 1 subscriber, 256 B values. The reported allocs/op
// cover both sides; BenchmarkPublish isolates the publish path.
func BenchmarkEndToEnd(b *testing.B) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	value := make([]byte, 256)
	n := 0
	done := make(chan struct{})
	target := 0
	if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
		n++
		if n == target {
			close(done)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	target = b.N
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for range b.N {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublish measures the publish path alone on the memory bus.
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	value := make([]byte, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverBacklog measures the delivery side alone on the memory
// bus: b.N messages of 256 B are published before the timer starts, then
// a new group (starting at the earliest offset) drains them, so the timed
// work is the delivery loop's (read, decode, handler call, cursor) with no
// publisher competing for the cores.
func BenchmarkDeliverBacklog(b *testing.B) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	value := make([]byte, 256)
	for range b.N {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	done := make(chan struct{})
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	cpu := processCPU()
	if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
		if n++; n == b.N {
			close(done)
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		b.Fatal(err)
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// The process's CPU per message: steadier than the elapsed time on a
	// shared machine, where the loop waits for a core.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/msg")
}

// processCPU is the user and system CPU time the process has used, in
// nanoseconds (0 if it cannot be read).
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
