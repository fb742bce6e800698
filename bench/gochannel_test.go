package bench

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// goChannelInstance is Watermill's GoChannel as its users run it: the
// default config (unbuffered output, Publish not blocking on the ack), a
// new UUID per message, and a subscriber that Acks each message.
type goChannelInstance struct {
	pubsub *gochannel.GoChannel
	topic  string
	cancel context.CancelFunc
	wg     sync.WaitGroup // the subscriber goroutine
}

func openGoChannel(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	g := &goChannelInstance{
		pubsub: gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{}),
		topic:  topic,
	}
	ctx, g.cancel = context.WithCancel(ctx)
	if handled != nil {
		msgs, err := g.pubsub.Subscribe(ctx, topic)
		if err != nil {
			g.cancel()
			_ = g.pubsub.Close()
			return nil, err
		}
		g.wg.Go(func() {
			for m := range msgs {
				m.Ack()
				handled(m.Payload)
			}
		})
	}
	return g, nil
}

func (g *goChannelInstance) publish(_ context.Context, payload []byte) error {
	return g.pubsub.Publish(g.topic, message.NewMessage(watermill.NewUUID(), payload))
}

func (g *goChannelInstance) close() error {
	g.cancel()
	err := g.pubsub.Close()
	g.wg.Wait()
	return err
}
