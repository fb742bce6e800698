package schema_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// BenchmarkPublishValidation is the cost per message of validating a
// typical JSON value (orderSchema: six properties, nested array of
// objects, enum, bounds) on Publish, against the same Publish without a
// registry and with a registry whose topic is off, on the memory store
// without fsync so the validation is not hidden behind the disk.
// "validate-only" is the check alone. Besides wall time it reports
// cpu-ns/op (the process's user+system CPU time per message, goroutines
// of the bus included), which holds up better than ns/op on a loaded
// machine.
func BenchmarkPublishValidation(b *testing.B) {
	ctx := context.Background()
	value := []byte(validOrder)
	run := func(b *testing.B, mode schema.Mode, withRegistry bool) {
		bus, err := core.New(core.WithStore(memory.New()), core.WithDurability(wal.PolicyNone, 0))
		if err != nil {
			b.Fatal(err)
		}
		defer bus.Close(ctx)
		if withRegistry {
			r, err := schema.Open(bus)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			register(b, r, topic+"-value", schema.JSON, orderSchema)
			if err := r.SetValidation(ctx, topic, mode); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: value}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	}
	b.Run("no-registry", func(b *testing.B) { run(b, schema.ModeOff, false) })
	b.Run("mode-off", func(b *testing.B) { run(b, schema.ModeOff, true) })
	b.Run("mode-reject", func(b *testing.B) { run(b, schema.ModeReject, true) })
	b.Run("validate-only", func(b *testing.B) {
		r := openRegistry(b, newBus(b))
		register(b, r, topic+"-value", schema.JSON, orderSchema)
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if err := r.Validate(topic+"-value", value); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
