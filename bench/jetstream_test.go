package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jetStreamInstance is an embedded NATS server (in this process, on
// 127.0.0.1 with a random port) with JetStream on a file store in a
// temporary directory, and a nats.go client: publish is the synchronous
// jetstream.Publish (it returns with the server's PubAck, after the
// file store's write). With syncAlways the server fsyncs every write
// (SyncAlways); otherwise it syncs every 2 minutes, its default. The
// subscriber is a durable pull consumer with explicit acks (Consume),
// acking each message before reporting it.
type jetStreamInstance struct {
	srv  *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	cc   jetstream.ConsumeContext
	dir  string
	subj string
}

func openJetStream(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	return openJetStreamSync(ctx, topic, handled, false)
}

func openJetStreamSyncAlways(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	return openJetStreamSync(ctx, topic, handled, true)
}

func openJetStreamSync(ctx context.Context, topic string, handled func([]byte), syncAlways bool) (_ instance, err error) {
	dir, err := os.MkdirTemp("", "jetstream-bench-")
	if err != nil {
		return nil, err
	}
	j := &jetStreamInstance{dir: dir, subj: topic}
	defer func() {
		if err != nil {
			j.close()
		}
	}()
	j.srv, err = server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: syncAlways,
	})
	if err != nil {
		return nil, err
	}
	j.srv.Start()
	if !j.srv.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("nats server not ready in 10s")
	}
	if j.nc, err = nats.Connect(j.srv.ClientURL()); err != nil {
		return nil, err
	}
	if j.js, err = jetstream.New(j.nc); err != nil {
		return nil, err
	}
	stream, err := j.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "BENCH",
		Subjects: []string{topic},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	if handled != nil {
		cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:   "bench",
			AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			return nil, fmt.Errorf("create consumer: %w", err)
		}
		j.cc, err = cons.Consume(func(m jetstream.Msg) {
			if err := m.Ack(); err == nil {
				handled(m.Data())
			}
		})
		if err != nil {
			return nil, fmt.Errorf("consume: %w", err)
		}
	}
	return j, nil
}

func (j *jetStreamInstance) publish(ctx context.Context, payload []byte) error {
	_, err := j.js.Publish(ctx, j.subj, payload)
	return err
}

func (j *jetStreamInstance) close() error {
	if j.cc != nil {
		j.cc.Stop()
	}
	if j.nc != nil {
		j.nc.Close()
	}
	if j.srv != nil {
		j.srv.Shutdown()
		j.srv.WaitForShutdown()
	}
	return os.RemoveAll(j.dir)
}
