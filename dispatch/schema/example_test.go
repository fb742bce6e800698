package schema_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/store/memory"
)

// A topic in reject mode refuses a value its schema does not accept.
func Example() {
	ctx := context.Background()
	bus, _ := core.New(core.WithStore(memory.New()))
	defer bus.Close(ctx)
	reg, err := schema.Open(bus)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	ss, _ := reg.Register(ctx, "payments-value", schema.Schema{Type: schema.JSON,
		Schema: `{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}`})
	fmt.Println("id", ss.ID, "version", ss.Version)
	_ = reg.SetValidation(ctx, "payments", schema.ModeReject)

	_, err = bus.Publish(ctx, &core.Message{Topic: "payments", Value: []byte(`{"amount":12.5}`)})
	fmt.Println("valid:", err)
	_, err = bus.Publish(ctx, &core.Message{Topic: "payments", Value: []byte(`{"amount":"12.5"}`)})
	fmt.Println("invalid refused:", errors.Is(err, schema.ErrInvalidPayload))
	// Output:
	// id 1 version 1
	// valid: <nil>
	// invalid refused: true
}

// The Confluent-compatible API is a plain http.Handler: mount it on its
// own listener or under a prefix.
func ExampleNewRegistryHandler() {
	bus, _ := core.New(core.WithStore(memory.New()))
	defer bus.Close(context.Background())
	reg, _ := schema.Open(bus)
	defer reg.Close()
	mux := http.NewServeMux()
	mux.Handle("/schemas-api/", http.StripPrefix("/schemas-api", schema.NewRegistryHandler(reg)))
	_ = mux // serve with http.Server{Handler: mux}
}
