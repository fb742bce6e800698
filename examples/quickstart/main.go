// Command quickstart publishes a few events on an onexbus bus stored in
// ./onexbus-data and consumes them in a consumer group, then prints the
// topic's history. Run it twice: the group resumes where it stopped.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/onexbus/onexbus/core"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The embedded default: a bbolt file in ./onexbus-data, fsync'd on
	// every group commit. transport/memory.New gives the RAM-only bus.
	bus, err := core.New(core.WithSource("quickstart"), core.WithDataDir(core.DefaultDataDir))
	if err != nil {
		return err
	}
	defer bus.Close(context.Background())

	const topic = "onex.evt.orders.created.v1"
	const n = 5
	done := make(chan struct{})
	received := 0
	_, err = bus.Subscribe(ctx, topic, "printer", func(_ context.Context, m *core.Message) error {
		fmt.Printf("delivered %s/%d@%d key=%s value=%s correlation_id=%s\n",
			m.Topic, m.Partition, m.Offset, m.Key, m.Value, m.Headers.CorrelationID)
		if received++; received == n {
			close(done)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range n {
		m := &core.Message{Topic: topic, Key: []byte(fmt.Sprint("order-", i)), Value: []byte(fmt.Sprintf(`{"order":%d}`, i))}
		if _, err := bus.Publish(ctx, m); err != nil {
			return err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	hist, err := bus.History(ctx, topic, 3)
	if err != nil {
		return err
	}
	// History holds every run's messages, not only this run's n.
	start, err := bus.StartOffset(topic, 0)
	if err != nil {
		return err
	}
	end, err := bus.EndOffset(topic, 0)
	if err != nil {
		return err
	}
	fmt.Printf("newest %d of %d in history:", len(hist), end-start)
	for _, m := range hist {
		fmt.Printf(" %s", m.Value)
	}
	fmt.Println()
	return bus.Close(ctx)
}
