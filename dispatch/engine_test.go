package dispatch_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store/bolt"
)

func newBus(t *testing.T) *core.Bus {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.New(core.WithStore(st), core.WithBreaker(core.BreakerPolicy{Threshold: 0}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func ok(context.Context, *core.Message) ([]*core.Message, error) { return nil, nil }

func msg(topic, typ string) *core.Message {
	m := &core.Message{Topic: topic, Value: []byte("{}")}
	m.Headers.EventType = typ
	m.Headers.CorrelationID = uuid.New()
	m.Headers.MessageID = uuid.New()
	return m
}

func TestRegistrationAndFreezeRules(t *testing.T) {
	e, err := dispatch.New(newBus(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := e.Dispatch(ctx, msg("onex.evt.billing.paid.v1", "paid")); r.Status != dispatch.StatusInternalError || !errors.Is(r.Err, dispatch.ErrNotFrozen) {
		t.Fatalf("dispatch before freeze: %s %v", r.Status, r.Err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"ok", e.RegisterDispatcher(dispatch.Dispatcher{ID: "d1", Category: core.CategoryEvent, Handler: ok}), nil},
		{"duplicate dispatcher", e.RegisterDispatcher(dispatch.Dispatcher{ID: "d1", Category: core.CategoryEvent, Handler: ok}), dispatch.ErrDuplicate},
		{"empty id", e.RegisterDispatcher(dispatch.Dispatcher{Handler: ok}), dispatch.ErrInvalid},
		{"nil handler", e.RegisterDispatcher(dispatch.Dispatcher{ID: "d2"}), dispatch.ErrInvalid},
		{"route", e.RegisterRoute(dispatch.Route{ID: "r1", TopicPattern: "onex.evt.*.*.v1", Category: core.CategoryEvent, DispatcherID: "d1"}), nil},
		{"duplicate route", e.RegisterRoute(dispatch.Route{ID: "r1", TopicPattern: "x", DispatcherID: "d1"}), dispatch.ErrDuplicate},
		{"bad pattern", e.RegisterRoute(dispatch.Route{ID: "r2", TopicPattern: "a.b*", DispatcherID: "d1"}), dispatch.ErrInvalid},
		{"leading dot", e.RegisterRoute(dispatch.Route{ID: "r3", TopicPattern: ".a", DispatcherID: "d1"}), dispatch.ErrInvalid},
		{"priority", e.RegisterRoute(dispatch.Route{ID: "r4", TopicPattern: "a", DispatcherID: "d1", Priority: 1001}), dispatch.ErrInvalid},
		{"long id", e.RegisterRoute(dispatch.Route{ID: string(make([]byte, 201)), TopicPattern: "a", DispatcherID: "d1"}), dispatch.ErrInvalid},
		{"unknown dispatcher (checked at freeze)", e.RegisterRoute(dispatch.Route{ID: "r5", TopicPattern: "a", DispatcherID: "ghost"}), nil},
	} {
		if !errors.Is(c.err, c.want) || (c.want == nil && c.err != nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := e.Freeze(); !errors.Is(err, dispatch.ErrUnknownDispatcher) {
		t.Fatalf("freeze with a dangling route: %v", err)
	}
	// Fix the table: the failed freeze left it open.
	if err := e.RegisterDispatcher(dispatch.Dispatcher{ID: "ghost", Category: core.CategoryEvent, Handler: ok}); err != nil {
		t.Fatal(err)
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := e.Freeze(); !errors.Is(err, dispatch.ErrFrozen) {
		t.Fatalf("second freeze: %v", err)
	}
	if err := e.RegisterDispatcher(dispatch.Dispatcher{ID: "late", Handler: ok}); !errors.Is(err, dispatch.ErrFrozen) {
		t.Fatalf("register after freeze: %v", err)
	}
	if err := e.RegisterRoute(dispatch.Route{ID: "late", TopicPattern: "a", DispatcherID: "d1"}); !errors.Is(err, dispatch.ErrFrozen) {
		t.Fatalf("route after freeze: %v", err)
	}
}

// Routes run by priority, highest first, then registration order; a
// dispatcher matched twice runs once; disabled routes and dispatchers of
// other message types are skipped.
func TestPriorityOrder(t *testing.T) {
	e, _ := dispatch.New(newBus(t))
	var mu sync.Mutex
	var ran []string
	rec := func(id string) dispatch.HandlerFunc {
		return func(context.Context, *core.Message) ([]*core.Message, error) {
			mu.Lock()
			ran = append(ran, id)
			mu.Unlock()
			return nil, nil
		}
	}
	for _, id := range []string{"low", "high", "mid", "first-mid", "disabled", "other-type"} {
		d := dispatch.Dispatcher{ID: id, Category: core.CategoryEvent, Handler: rec(id)}
		if id == "other-type" {
			d.MessageTypes = []string{"refunded"}
		}
		if err := e.RegisterDispatcher(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []dispatch.Route{
		{ID: "r-low", TopicPattern: "onex.evt.billing.**", Category: core.CategoryEvent, DispatcherID: "low", Priority: -5},
		{ID: "r-first-mid", TopicPattern: "onex.evt.*.paid.v1", Category: core.CategoryEvent, DispatcherID: "first-mid", Priority: 10},
		{ID: "r-high", TopicPattern: "onex.evt.billing.paid.v1", Category: core.CategoryEvent, DispatcherID: "high", Priority: 100},
		{ID: "r-mid", TopicPattern: "**", Category: core.CategoryEvent, DispatcherID: "mid", Priority: 10},
		{ID: "r-high-again", TopicPattern: "**", Category: core.CategoryEvent, DispatcherID: "high", Priority: 0},
		{ID: "r-disabled", TopicPattern: "**", Category: core.CategoryEvent, DispatcherID: "disabled", Priority: 1000, Disabled: true},
		{ID: "r-other", TopicPattern: "**", Category: core.CategoryEvent, DispatcherID: "other-type", Priority: 1000},
		{ID: "r-command", TopicPattern: "**", Category: core.CategoryCommand, DispatcherID: "low", Priority: 1000},
	} {
		if err := e.RegisterRoute(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	r := e.Dispatch(context.Background(), msg("onex.evt.billing.paid.v1", "paid"))
	want := []string{"high", "first-mid", "mid", "low"}
	if r.Status != dispatch.StatusSuccess || !slices.Equal(ran, want) || !slices.Equal(r.DispatcherIDs, want) || r.RouteID != "r-high" {
		t.Fatalf("status %s ran %v (ids %v, route %s), want %v", r.Status, ran, r.DispatcherIDs, r.RouteID, want)
	}
}

// Every status the engine produces, with outputs published and carrying
// the input's correlation id.
func TestStatuses(t *testing.T) {
	b := newBus(t)
	e, _ := dispatch.New(b, dispatch.WithTimeout(50*time.Millisecond))
	reg := func(id string, h dispatch.HandlerFunc) {
		if err := e.RegisterDispatcher(dispatch.Dispatcher{ID: id, Category: core.CategoryCommand, Handler: h}); err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterRoute(dispatch.Route{ID: id, TopicPattern: "onex.cmd.shop." + id + ".v1", Category: core.CategoryCommand, DispatcherID: id}); err != nil {
			t.Fatal(err)
		}
	}
	reg("emit", func(_ context.Context, m *core.Message) ([]*core.Message, error) {
		out := &core.Message{Topic: "onex.evt.shop.done.v1", Value: m.Value}
		return []*core.Message{out, {Topic: "onex.evt.shop.audit.v1"}}, nil
	})
	reg("fail", func(context.Context, *core.Message) ([]*core.Message, error) { return nil, errors.New("boom") })
	reg("slow", func(ctx context.Context, _ *core.Message) ([]*core.Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	reg("panic", func(context.Context, *core.Message) ([]*core.Message, error) { panic("bad") })
	reg("badout", func(context.Context, *core.Message) ([]*core.Message, error) {
		return []*core.Message{{Topic: "bad topic!"}}, nil
	})
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := msg("onex.cmd.shop.emit.v1", "emit")
	r := e.Dispatch(ctx, in)
	if r.Status != dispatch.StatusSuccess || len(r.Outputs) != 2 || r.CorrelationID != in.Headers.CorrelationID || r.Duration <= 0 {
		t.Fatalf("success: %+v", r)
	}
	out, err := b.Fetch(ctx, r.Outputs[0].Topic, r.Outputs[0].Partition, r.Outputs[0].Offset, 1)
	if err != nil || len(out) != 1 || out[0].Headers.CorrelationID != in.Headers.CorrelationID {
		t.Fatalf("output %v, %v", out, err)
	}
	// A retried dispatch publishes the same output ids: stored once.
	r2 := e.Dispatch(ctx, in)
	if r2.Outputs[0] != r.Outputs[0] {
		t.Fatalf("retry published a new copy: %+v then %+v", r.Outputs[0], r2.Outputs[0])
	}
	for _, c := range []struct {
		topic, typ string
		status     dispatch.Status
		err        error
	}{
		{"onex.cmd.shop.fail.v1", "x", dispatch.StatusHandlerError, nil},
		{"onex.cmd.shop.slow.v1", "x", dispatch.StatusTimeout, dispatch.ErrTimeout},
		{"onex.cmd.shop.panic.v1", "x", dispatch.StatusHandlerError, nil},
		{"onex.cmd.shop.badout.v1", "x", dispatch.StatusPublishFailed, dispatch.ErrPublish},
		{"onex.cmd.shop.none.v1", "x", dispatch.StatusNoDispatcher, dispatch.ErrNoDispatcher},
		{"plain-topic", "x", dispatch.StatusInvalid, dispatch.ErrInvalidMessage},
		{"onex.cmd.shop.emit.v1", "", dispatch.StatusInvalid, dispatch.ErrInvalidMessage},
	} {
		r := e.Dispatch(ctx, msg(c.topic, c.typ))
		if r.Status != c.status || r.Err == nil || (c.err != nil && !errors.Is(r.Err, c.err)) {
			t.Errorf("%s: %s %v, want %s %v", c.topic, r.Status, r.Err, c.status, c.err)
		}
	}
	st := e.Stats()
	if st.All.Dispatches != 9 || st.All.Successes != 2 || st.All.NoDispatcher != 1 || st.All.Errors != 6 ||
		st.ByDispatcher["emit"].Dispatches != 2 || st.ByCategory[core.CategoryCommand].Dispatches != 8 || st.All.Min < 0 {
		t.Fatalf("stats %+v", st.All)
	}
	var n int64
	for _, c := range st.All.Latency {
		n += c
	}
	if n != st.All.Dispatches {
		t.Fatalf("histogram holds %d of %d dispatches", n, st.All.Dispatches)
	}
}

// As a subscription's handler the engine dead-letters a message no
// dispatcher takes, at once, with the reason.
func TestHandlerDeadLettersWithoutDispatcher(t *testing.T) {
	b := newBus(t)
	e, _ := dispatch.New(b)
	if err := e.RegisterDispatcher(dispatch.Dispatcher{ID: "d", Category: core.CategoryEvent, Handler: ok}); err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterRoute(dispatch.Route{ID: "r", TopicPattern: "onex.evt.a.known.v1", Category: core.CategoryEvent, DispatcherID: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Subscribe(ctx, "onex.evt.a.*.v1", "router", e.Handler(), core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*core.Message{msg("onex.evt.a.known.v1", "k"), msg("onex.evt.a.unknown.v1", "u")} {
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var letters []dlq.Letter
	for len(letters) == 0 && time.Now().Before(deadline) {
		letters, _ = b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
		time.Sleep(5 * time.Millisecond)
	}
	if len(letters) != 1 || letters[0].Topic != "onex.evt.a.unknown.v1" || letters[0].Attempts != 1 {
		t.Fatalf("letters %+v", letters)
	}
	if want := "no dispatcher"; !strings.Contains(letters[0].Error, want) {
		t.Fatalf("letter error %q lacks %q", letters[0].Error, want)
	}
}

// A route's pattern selects exactly the topics a subscription with the
// same pattern matches (core.CompilePattern, the matcher Subscribe uses):
// one grammar for both, `**` included.
func TestPatternRoutingMatchesSubscriptions(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	topics := []string{"onex.evt.a.x.v1", "onex.evt.a.y.v1", "onex.evt.b.x.v1", "onex.evt.a.x.v2", "onex.cmd.a.x.v1"}
	for _, pat := range []string{"onex.evt.a.*.v1", "onex.evt.**", "onex.*.a.x.v1", "**.v1", "onex.evt.a.x.v1"} {
		var mu sync.Mutex
		routed := map[string]bool{}
		e, _ := dispatch.New(b)
		for _, cat := range []core.Category{core.CategoryEvent, core.CategoryCommand} {
			id := "d-" + cat.String()
			_ = e.RegisterDispatcher(dispatch.Dispatcher{ID: id, Category: cat, Handler: func(_ context.Context, m *core.Message) ([]*core.Message, error) {
				mu.Lock()
				routed[m.Topic] = true
				mu.Unlock()
				return nil, nil
			}})
			_ = e.RegisterRoute(dispatch.Route{ID: "r-" + cat.String(), TopicPattern: pat, Category: cat, DispatcherID: id})
		}
		if err := e.Freeze(); err != nil {
			t.Fatal(err)
		}
		p, _ := core.CompilePattern(pat)
		for _, topic := range topics {
			e.Dispatch(ctx, msg(topic, "t"))
			if routed[topic] != p.Match(topic) {
				t.Errorf("pattern %q topic %q: routed %v, subscription matches %v", pat, topic, routed[topic], p.Match(topic))
			}
		}
	}
}
