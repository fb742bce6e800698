package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/dashboard"
	"github.com/onexbus/onexbus/wal"
)

// BenchmarkPages loads each page against a bus with 1,000 topics and
// 100,000 messages (100 per topic, 200-byte JSON values), 1,000 dead
// letters and one group; it reports the page's bytes (page-bytes) and
// time per load. Run: go test -run '^$' -bench Pages -benchtime 20x
// ./internal/dashboard/
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	bus, err := core.New(core.WithDataDir(b.TempDir()), core.WithDurability(wal.PolicyNone, 0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close(ctx) })
	value := []byte(fmt.Sprintf(`{"order":1,"amount":42,"note":"%0180d"}`, 0))
	first := ""
	for tp := range 1000 {
		name := fmt.Sprintf("onex.evt.bench.topic-%04d.v1", tp)
		if first == "" {
			first = name
		}
		msgs := make([]*core.Message, 100)
		for i := range msgs {
			msgs[i] = &core.Message{Topic: name, Key: []byte(fmt.Sprintf("k-%d", i)), Value: value}
		}
		if err := bus.PublishBatch(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1000 {
		if _, err := bus.DeadLetters().Add(ctx, &dlq.Letter{Topic: first, Offset: int64(i), Group: "billing", Value: value, Error: "boom", DeadLetteredAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	durable, err := bus.CommitGroupOffsets("billing", []core.GroupOffset{{Topic: first, Partition: 0, Offset: 50}})
	if err != nil {
		b.Fatal(err)
	}
	if err := durable(ctx); err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	ui, err := dashboard.New(sctx, bus, dashboard.Options{SampleEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ui.Handler())
	b.Cleanup(srv.Close)
	for _, pg := range []struct{ name, path string }{
		{"overview", "/ui/"},
		{"topics", "/ui/topics"},
		{"topic", "/ui/topics/" + first},
		{"messages-newest", "/ui/topics/" + first + "/messages"},
		{"messages-expr", "/ui/topics/" + first + "/messages?expr=json.amount+%3E+100"},
		{"groups", "/ui/groups"},
		{"group", "/ui/groups/billing"},
		{"dlq", "/ui/dlq"},
		{"breakers", "/ui/breakers"},
		{"config", "/ui/config"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				resp, err := http.Get(srv.URL + pg.path)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %v", pg.path, resp.StatusCode, err)
				}
				n = len(body)
			}
			b.ReportMetric(float64(n), "page-bytes")
		})
	}
}
