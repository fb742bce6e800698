package schema_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
)

const topic = "onex.evt.billing.order-paid.v1"

// TestValidationOnPublishModes: each mode with a valid and an invalid
// value: reject refuses the invalid one (nothing stored), warn stores it
// and counts it, off stores it unchecked.
func TestValidationOnPublishModes(t *testing.T) {
	for _, tc := range []struct {
		mode             schema.Mode
		invalidRefused   bool
		validated, warns int64
	}{
		{schema.ModeReject, true, 2, 0},
		{schema.ModeWarn, false, 2, 1},
		{schema.ModeOff, false, 0, 0},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ctx := context.Background()
			bus := newBus(t)
			r := openRegistry(t, bus)
			register(t, r, topic+"-value", schema.JSON, orderSchema)
			if err := r.SetValidation(ctx, topic, tc.mode); err != nil {
				t.Fatal(err)
			}
			if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: []byte(validOrder)}); err != nil {
				t.Fatalf("valid value: %v", err)
			}
			_, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: []byte(invalidOrder)})
			if tc.invalidRefused != (err != nil) {
				t.Fatalf("invalid value: err %v, want refused %v", err, tc.invalidRefused)
			}
			if err != nil && !errors.Is(err, schema.ErrInvalidPayload) {
				t.Fatalf("refusal %v does not wrap ErrInvalidPayload", err)
			}
			want := int64(2)
			if tc.invalidRefused {
				want = 1
			}
			if end, _ := bus.EndOffset(topic, 0); end != want {
				t.Fatalf("end offset %d, want %d", end, want)
			}
			st := r.Stats()
			if st.Validated != tc.validated || st.Warned != tc.warns {
				t.Fatalf("stats %+v, want validated %d warned %d", st, tc.validated, tc.warns)
			}
			if tc.invalidRefused && st.Rejected != 1 {
				t.Fatalf("stats %+v, want 1 rejected", st)
			}
		})
	}
}

// TestValidationBatchAndAsync: PublishBatch and PublishAsync are checked
// the same way as Publish.
func TestValidationBatchAndAsync(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus)
	register(t, r, topic+"-value", schema.JSON, orderSchema)
	if err := r.SetValidation(ctx, topic, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	err := bus.PublishBatch(ctx, []*core.Message{{Topic: topic, Value: []byte(validOrder)}, {Topic: topic, Value: []byte(invalidOrder)}})
	if !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("batch: %v", err)
	}
	if end, _ := bus.EndOffset(topic, 0); end != 0 {
		t.Fatalf("a refused batch stored %d messages (all are checked before any is stored)", end)
	}
	err = bus.PublishAsync(ctx, &core.Message{Topic: topic, Value: []byte(invalidOrder)}, func(*core.Message, error) {
		t.Error("done called for a refused message")
	})
	if !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("async: %v", err)
	}
}

// TestRejectWithoutSchema: reject mode refuses a message no subject
// covers; a tombstone (empty value) passes.
func TestRejectWithoutSchema(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus)
	if err := r.SetValidation(ctx, topic, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: []byte(`{}`)}); !errors.Is(err, schema.ErrNoSchema) {
		t.Fatalf("no schema: %v", err)
	}
	register(t, r, topic+"-value", schema.JSON, orderSchema)
	if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Key: []byte("k")}); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
}

// TestValidationByMessageType: without a <topic>-value subject, the
// subject named by event_type applies; the key is checked against
// <topic>-key.
func TestValidationByMessageType(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus)
	register(t, r, "OrderPaid", schema.JSON, orderSchema)
	if err := r.SetValidation(ctx, topic, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	m := &core.Message{Topic: topic, Value: []byte(invalidOrder)}
	m.Headers.EventType = "OrderPaid"
	if _, err := bus.Publish(ctx, m); !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("by type, invalid: %v", err)
	}
	m = &core.Message{Topic: topic, Value: []byte(validOrder), Key: []byte(`"o-1"`)}
	m.Headers.EventType = "OrderPaid"
	if _, err := bus.Publish(ctx, m); err != nil {
		t.Fatalf("by type, valid: %v", err)
	}
	register(t, r, topic+"-key", schema.JSON, `{"type":"string","pattern":"^o-"}`)
	m = &core.Message{Topic: topic, Value: []byte(validOrder), Key: []byte(`"x-1"`)}
	m.Headers.EventType = "OrderPaid"
	if _, err := bus.Publish(ctx, m); !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("bad key: %v", err)
	}
}

const userAvro = `{"type":"record","name":"User","namespace":"onex","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`

type user struct {
	Name string `avro:"name"`
	Age  int    `avro:"age"`
}

// TestWireFormatRecords: ValidateRecord (the broker's seam) checks a
// Confluent wire-format value against the schema id it carries.
func TestWireFormatRecords(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus)
	ss := register(t, r, "users-value", schema.Avro, userAvro)
	other := register(t, r, "other-value", schema.JSON, `{"type":"object"}`)
	if err := r.SetValidation(ctx, "users", schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	body, err := avro.Marshal(avro.MustParse(userAvro), user{Name: "ada", Age: 36})
	if err != nil {
		t.Fatal(err)
	}
	good := append(schema.AppendWire(nil, ss.ID), body...)
	for _, tc := range []struct {
		name  string
		value []byte
		want  error
	}{
		{"valid", good, nil},
		{"unknown id", append(schema.AppendWire(nil, 999), body...), schema.ErrUnknownSchemaID},
		{"id of another subject", append(schema.AppendWire(nil, other.ID), body...), schema.ErrSchemaNotInSubject},
		{"truncated", good[:len(good)-1], schema.ErrInvalidPayload},
		{"trailing bytes", append(append([]byte(nil), good...), 0x02), schema.ErrInvalidPayload},
		{"avro without the wire format", body, schema.ErrInvalidPayload},
		{"tombstone", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.ValidateRecord("users", "", nil, tc.value)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The same check through a Bus publish.
	if _, err := bus.Publish(ctx, &core.Message{Topic: "users", Value: good}); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryPersists: schemas, ids, levels and modes survive a reopen
// of the bus on its bbolt file.
func TestRegistryPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bus := openBoltBus(t, dir)
	r, err := schema.Open(bus)
	if err != nil {
		t.Fatal(err)
	}
	v1 := register(t, r, topic+"-value", schema.JSON, orderSchema)
	if err := r.SetValidation(ctx, topic, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCompatibility(ctx, topic+"-value", schema.Full); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if err := bus.Close(ctx); err != nil {
		t.Fatal(err)
	}
	bus = openBoltBus(t, dir)
	defer bus.Close(ctx)
	r = openRegistry(t, bus)
	got, err := r.Version(topic+"-value", schema.Latest, false)
	if err != nil || got.ID != v1.ID || got.Version != 1 || got.Schema.Schema != orderSchema {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if l, _ := r.SubjectCompatibility(topic+"-value", false); l != schema.Full {
		t.Fatalf("level %q after reopen", l)
	}
	if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: []byte(invalidOrder)}); !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("validation after reopen: %v", err)
	}
	// A new schema gets the next id, not a reused one.
	if ss := register(t, r, "x-value", schema.JSON, `{"type":"string"}`); ss.ID != v1.ID+1 {
		t.Fatalf("id %d after reopen, want %d", ss.ID, v1.ID+1)
	}
}

// TestCloseUninstallsValidator: after the registry's Close, publishes
// are no longer checked.
func TestCloseUninstallsValidator(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus)
	if err := r.SetValidation(ctx, topic, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if _, err := bus.Publish(ctx, &core.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(ctx, "s", schema.Schema{Schema: `{}`, Type: schema.JSON}); !errors.Is(err, schema.ErrClosed) {
		t.Fatalf("register after close: %v", err)
	}
}

// TestConcurrentRegister: concurrent registrations in one subject get
// versions 1..N and distinct ids, each once.
func TestConcurrentRegister(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, newBus(t))
	if err := r.SetCompatibility(ctx, "s", schema.None); err != nil {
		t.Fatal(err)
	}
	const n = 16
	ids := make(chan schema.SubjectSchema, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ss, err := r.Register(ctx, "s", schema.Schema{Type: schema.JSON, Schema: fmt.Sprintf(`{"maxLength":%d}`, i)})
			ids <- ss
			errs <- err
		}()
	}
	versions, seen := map[int]bool{}, map[int]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		ss := <-ids
		versions[ss.Version], seen[ss.ID] = true, true
	}
	for v := 1; v <= n; v++ {
		if !versions[v] {
			t.Fatalf("version %d missing: %v", v, versions)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids, want %d", len(seen), n)
	}
}

// TestDefaultModeAndTopicOff: WithDefaultMode applies to topics without
// a mode of their own; a topic set off stays off under it, across a
// reopen of the registry.
func TestDefaultModeAndTopicOff(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r := openRegistry(t, bus, schema.WithDefaultMode(schema.ModeReject))
	if _, err := bus.Publish(ctx, &core.Message{Topic: "any", Value: []byte("x")}); !errors.Is(err, schema.ErrNoSchema) {
		t.Fatalf("default reject: %v", err)
	}
	if err := r.SetValidation(ctx, "free", schema.ModeOff); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	r = openRegistry(t, bus, schema.WithDefaultMode(schema.ModeReject))
	if got := r.Validation("free"); got != schema.ModeOff {
		t.Fatalf("mode after reopen %q", got)
	}
	if _, err := bus.Publish(ctx, &core.Message{Topic: "free", Value: []byte("x")}); err != nil {
		t.Fatalf("topic off under a reject default: %v", err)
	}
	if err := r.SetValidation(ctx, "free", "loud"); !errors.Is(err, schema.ErrInvalidMode) {
		t.Fatalf("bad mode: %v", err)
	}
	if _, err := schema.Open(bus, schema.WithDefaultMode("loud")); !errors.Is(err, schema.ErrInvalidMode) {
		t.Fatalf("bad default mode: %v", err)
	}
}
