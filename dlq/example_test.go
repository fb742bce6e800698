package dlq_test

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store/memory"
)

// printer is a Republisher that prints instead of publishing.
type printer struct{}

func (printer) Republish(_ context.Context, l *dlq.Letter, toGroup string) error {
	fmt.Printf("republish %d (%s/%d@%d) to group %q\n", l.ID, l.Topic, l.Partition, l.Offset, toGroup)
	return nil
}

func Example() {
	ctx := context.Background()
	q, err := dlq.Open(memory.New())
	if err != nil {
		panic(err)
	}
	_, err = q.Add(ctx, &dlq.Letter{
		Topic: "onex.evt.orders.created.v1", Offset: 41, Group: "billing", Attempts: 3,
		Value: []byte(`{"order":41}`),
		Error: "charge: POST https://svc:s3cret@pay/charge: 502; api_key=k-123",
	})
	if err != nil {
		panic(err)
	}
	ls, err := q.List(ctx, dlq.Filter{Group: "billing", Limit: dlq.All})
	if err != nil {
		panic(err)
	}
	fmt.Println(ls[0].ID, ls[0].Error)

	n, err := q.Replay(ctx, dlq.Filter{Group: "billing", Limit: dlq.All}, printer{}, dlq.ReplayOptions{ToGroup: "billing"})
	fmt.Println(n, err)
	left, _ := q.Count(ctx)
	fmt.Println(left)
	// Output:
	// 1 charge: POST https://svc:[REDACTED]@pay/charge: 502; api_key=[REDACTED]
	// republish 1 (onex.evt.orders.created.v1/0@41) to group "billing"
	// 1 <nil>
	// 0
}
