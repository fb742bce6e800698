package dispatch_test

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch"
	"github.com/onexbus/onexbus/transport/memory"
)

func Example() {
	bus, _ := memory.New()
	defer bus.Close(context.Background())
	e, _ := dispatch.New(bus)
	_ = e.RegisterDispatcher(dispatch.Dispatcher{
		ID: "charge", Category: core.CategoryCommand,
		Handler: func(_ context.Context, m *core.Message) ([]*core.Message, error) {
			// Outputs are published once the handler succeeded.
			return []*core.Message{{Topic: "onex.evt.billing.charged.v1", Value: m.Value}}, nil
		},
	})
	_ = e.RegisterRoute(dispatch.Route{ID: "billing-commands", TopicPattern: "onex.cmd.billing.*.v1",
		Category: core.CategoryCommand, DispatcherID: "charge", Priority: 10})
	if err := e.Freeze(); err != nil {
		fmt.Println(err)
		return
	}
	m := &core.Message{Topic: "onex.cmd.billing.charge.v1", Value: []byte(`{"amount":10}`)}
	m.Headers.EventType = "charge"
	r := e.Dispatch(context.Background(), m)
	fmt.Println(r.Status, r.DispatcherIDs, len(r.Outputs))
	// Output: success [charge] 1
}
