package core_test

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// A bus, one consumer group and one message.
func Example() {
	ctx := context.Background()
	bus, err := memory.New(core.WithSource("example"))
	if err != nil {
		panic(err)
	}
	defer bus.Close(ctx)

	got := make(chan *core.Message, 1)
	if _, err := bus.Subscribe(ctx, "onex.evt.users.created.v1", "mailer", func(_ context.Context, m *core.Message) error {
		got <- m
		return nil
	}); err != nil {
		panic(err)
	}
	off, err := bus.Publish(ctx, &core.Message{Topic: "onex.evt.users.created.v1", Key: []byte("u1"), Value: []byte(`{"id":"u1"}`)})
	if err != nil {
		panic(err)
	}
	m := <-got
	fmt.Println(off, m.Topic, string(m.Value), m.Headers.Source, m.Headers.ContentType)
	// Output: 0 onex.evt.users.created.v1 {"id":"u1"} example application/json
}

// Patterns: `*` is one segment, `**` any number.
func ExampleCompilePattern() {
	p, err := core.CompilePattern("onex.evt.*.created.**")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Match("onex.evt.users.created.v1"), p.Match("onex.evt.users.deleted.v1"))
	// Output: true false
}

// History returns the newest messages, oldest first.
func ExampleBus_History() {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		panic(err)
	}
	defer bus.Close(ctx)
	for _, v := range []string{"a", "b", "c"} {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "letters", Value: []byte(v)}); err != nil {
			panic(err)
		}
	}
	hist, err := bus.History(ctx, "letters", 2)
	if err != nil {
		panic(err)
	}
	for _, m := range hist {
		fmt.Print(m.Offset, ":", string(m.Value), " ")
	}
	fmt.Println()
	// Output: 1:b 2:c
}
