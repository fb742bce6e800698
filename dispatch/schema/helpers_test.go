package schema_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/store/memory"
)

// newBus returns a bus on the memory store, closed at cleanup.
func newBus(t testing.TB) *core.Bus {
	t.Helper()
	bus, err := core.New(core.WithStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

// openBoltBus opens (or reopens) a bus on a bbolt file in dir.
func openBoltBus(t testing.TB, dir string) *core.Bus {
	t.Helper()
	bus, err := core.New(core.WithDataDir(filepath.Clean(dir)))
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

func openRegistry(t testing.TB, bus *core.Bus, opts ...schema.Option) *schema.Registry {
	t.Helper()
	r, err := schema.Open(bus, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func register(t testing.TB, r *schema.Registry, subject string, typ schema.Type, text string) schema.SubjectSchema {
	t.Helper()
	ss, err := r.Register(context.Background(), subject, schema.Schema{Schema: text, Type: typ})
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return ss
}

// orderSchema is a typical JSON schema of an event: the one the
// benchmark validates against.
const orderSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "order_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "customer": {"type": "string"},
    "amount":   {"type": "number", "minimum": 0},
    "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
    "items":    {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}, "required": ["sku", "qty"]}},
    "paid":     {"type": "boolean"}
  },
  "required": ["order_id", "amount", "currency"]
}`

const validOrder = `{"order_id":"o-1","customer":"c-9","amount":12.5,"currency":"EUR","items":[{"sku":"a","qty":2},{"sku":"b","qty":1}],"paid":true}`

const invalidOrder = `{"order_id":"o-1","amount":-3,"currency":"JPY"}`
