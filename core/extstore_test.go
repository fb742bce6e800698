package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/memory"
)

func memBus(t *testing.T) *core.Bus {
	t.Helper()
	bus, err := core.New(core.WithStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

// TestExtStore: an extension's bucket round-trips, a failing update
// keeps nothing, bad names and a closed bus are errors.
func TestExtStore(t *testing.T) {
	bus := memBus(t)
	if err := bus.ExtView("reg", func(b store.Bucket) error {
		if b != nil {
			t.Error("a bucket before the first update")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := bus.ExtUpdate("reg", func(b store.Bucket) error { return b.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := bus.ExtUpdate("reg", func(b store.Bucket) error { _ = b.Put([]byte("k"), []byte("lost")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing update: %v", err)
	}
	var got string
	if err := bus.ExtView("reg", func(b store.Bucket) error { got = string(b.Get([]byte("k"))); return nil }); err != nil || got != "v" {
		t.Fatalf("view: %q %v", got, err)
	}
	for _, name := range []string{"", "Upper", "a/b", string(make([]byte, 65))} {
		if err := bus.ExtUpdate(name, func(store.Bucket) error { return nil }); !errors.Is(err, core.ErrInvalidExtension) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	_ = bus.Close(context.Background())
	if err := bus.ExtView("reg", func(store.Bucket) error { return nil }); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

type refuseAll struct{ err error }

func (r refuseAll) ValidatePublish(*core.Message) error { return r.err }

// TestPublishValidator: an installed validator refuses Publish,
// PublishBatch and PublishAsync with its error and sees the header
// defaults; removing it (twice is fine) lets them through.
func TestPublishValidator(t *testing.T) {
	ctx := context.Background()
	bus := memBus(t)
	bad := errors.New("bad content")
	var seen string
	remove := bus.AddPublishValidator(refuseAll{bad})
	removeSpy := bus.AddPublishValidator(spy(func(m *core.Message) { seen = m.Headers.EventType }))
	if _, err := bus.Publish(ctx, &core.Message{Topic: "t", Value: []byte("x")}); !errors.Is(err, bad) {
		t.Fatalf("publish: %v", err)
	}
	if err := bus.PublishBatch(ctx, []*core.Message{{Topic: "t"}}); !errors.Is(err, bad) {
		t.Fatalf("batch: %v", err)
	}
	if err := bus.PublishAsync(ctx, &core.Message{Topic: "t"}, func(*core.Message, error) {}); !errors.Is(err, bad) {
		t.Fatalf("async: %v", err)
	}
	if end, _ := bus.EndOffset("t", 0); end != 0 {
		t.Fatalf("%d refused messages stored", end)
	}
	remove()
	remove()
	if _, err := bus.Publish(ctx, &core.Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if seen != "t" {
		t.Fatalf("validator saw event_type %q, want the default (the topic)", seen)
	}
	removeSpy()
}

type spy func(*core.Message)

func (s spy) ValidatePublish(m *core.Message) error { s(m); return nil }
