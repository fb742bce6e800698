package watermill_test

import (
	"context"
	"fmt"

	wm "github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/onexbus/onexbus/adapters/watermill"
	"github.com/onexbus/onexbus/transport/memory"
)

// Watermill code on an onexbus bus: a Publisher, and a Subscriber in the
// consumer group "mailer".
func Example() {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		panic(err)
	}
	defer bus.Close(ctx)

	sub := watermill.NewSubscriber(bus, watermill.SubscriberConfig{ConsumerGroup: "mailer"})
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "users.created")
	if err != nil {
		panic(err)
	}

	pub := watermill.NewPublisher(bus)
	msg := message.NewMessage(wm.NewUUID(), []byte(`{"id":"u1"}`))
	msg.Metadata.Set("tenant", "acme")
	if err := pub.Publish("users.created", msg); err != nil {
		panic(err)
	}

	got := <-msgs
	fmt.Println(got.UUID == msg.UUID, string(got.Payload), got.Metadata.Get("tenant"), got.Metadata.Get("content_type"))
	got.Ack()
	// Output: true {"id":"u1"} acme application/json
}
