package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/transport/memory"
)

// The memory bus delivers like any bus, with headers intact, and a second
// bus shares nothing with the first.
func TestMemoryBusDeliversAndIsEphemeral(t *testing.T) {
	ctx := context.Background()
	b, err := memory.New(core.WithSource("mem"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	got := make(chan *core.Message, 1)
	if _, err := b.Subscribe(ctx, "onex.evt.x.y.v1", "g", func(_ context.Context, m *core.Message) error {
		got <- m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	in := &core.Message{Topic: "onex.evt.x.y.v1", Key: []byte("k"), Value: []byte("v")}
	in.Headers.TraceID = "trace-1"
	in.Headers.Extra = []core.Header{{Key: "tenant", Value: "acme"}}
	if _, err := b.Publish(ctx, in); err != nil {
		t.Fatal(err)
	}
	m := testutil.Receive(t, got, 10*time.Second)
	if string(m.Key) != "k" || string(m.Value) != "v" || m.Headers.TraceID != "trace-1" ||
		len(m.Headers.Extra) != 1 || m.Headers.Extra[0] != in.Headers.Extra[0] ||
		m.Headers.MessageID != in.Headers.MessageID || m.Headers.Source != "mem" {
		t.Fatalf("delivered %+v", m)
	}
	other, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if end, err := other.EndOffset("onex.evt.x.y.v1", 0); err != nil || end != 0 {
		t.Fatalf("a new memory bus sees %d messages, %v", end, err)
	}
}
