package bench

import (
	"context"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// onexbusInstance is onexbus on the memory bus (transport/memory.New with
// its defaults), one subscriber in group "bench".
type onexbusInstance struct {
	bus   *core.Bus
	topic string
}

func openOnexbus(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	bus, err := memory.New()
	if err != nil {
		return nil, err
	}
	if handled != nil {
		if _, err := bus.Subscribe(ctx, topic, "bench", func(_ context.Context, m *core.Message) error {
			handled(m.Value)
			return nil
		}); err != nil {
			_ = bus.Close(ctx)
			return nil, err
		}
	}
	return &onexbusInstance{bus: bus, topic: topic}, nil
}

func (o *onexbusInstance) publish(ctx context.Context, payload []byte) error {
	_, err := o.bus.Publish(ctx, &core.Message{Topic: o.topic, Value: payload})
	return err
}

func (o *onexbusInstance) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return o.bus.Close(ctx)
}
