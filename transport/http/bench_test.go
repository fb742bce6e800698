package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdhttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store/bolt"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// benchEnv is a durable bus (bbolt, fsync'd group commit) with the API on
// loopback and a keep-alive client.
func benchEnv(b *testing.B) (*core.Bus, *httptest.Server, *stdhttp.Client) {
	b.Helper()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bus.db"))
	if err != nil {
		b.Fatal(err)
	}
	bus, err := core.New(core.WithStore(st), core.WithEnforcement(core.EnforceOff))
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(bus)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	b.Cleanup(func() {
		srv.Close()
		_ = api.Close(context.Background())
		_ = bus.Close(context.Background())
	})
	client := &stdhttp.Client{Transport: &stdhttp.Transport{MaxIdleConnsPerHost: 256}}
	return bus, srv, client
}

func post(b *testing.B, c *stdhttp.Client, url string, body []byte) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkPublish compares publishing 256 B messages over HTTP (one per
// request, and batches of 100) with the embedded Publish, from 64
// concurrent keep-alive clients on a durable bus.
func BenchmarkPublish(b *testing.B) {
	value := strings.Repeat("x", 256)
	single, _ := json.Marshal(map[string]any{"value_text": value})
	var batch bytes.Buffer
	batch.WriteString(`{"messages":[`)
	for i := range 100 {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.Write(single)
	}
	batch.WriteString(`]}`)
	const clients = 64
	for _, c := range []struct {
		name string
		per  int
		run  func(b *testing.B, bus *core.Bus, url string, cl *stdhttp.Client)
	}{
		{"embedded", 1, func(b *testing.B, bus *core.Bus, _ string, _ *stdhttp.Client) {
			if _, err := bus.Publish(context.Background(), &core.Message{Topic: "bench", Value: []byte(value)}); err != nil {
				b.Error(err)
			}
		}},
		{"http-single", 1, func(b *testing.B, _ *core.Bus, url string, cl *stdhttp.Client) { post(b, cl, url, single) }},
		{"http-batch100", 100, func(b *testing.B, _ *core.Bus, url string, cl *stdhttp.Client) { post(b, cl, url, batch.Bytes()) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			bus, srv, cl := benchEnv(b)
			url := srv.URL + "/v1/topics/bench/messages"
			b.SetParallelism(max(1, clients/max(1, testingProcs())))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.run(b, bus, url, cl)
				}
			})
			b.ReportMetric(float64(b.N*c.per)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkReceiveAck drains a backlog through a pull group: 16 clients
// each receive up to 100 leases and ack them in one call.
func BenchmarkReceiveAck(b *testing.B) {
	bus, srv, cl := benchEnv(b)
	msgs := make([]*core.Message, b.N)
	for i := range msgs {
		msgs[i] = &core.Message{Topic: "drain", Key: []byte(fmt.Sprint(i % 64)), Value: bytes.Repeat([]byte("x"), 256)}
	}
	for i := 0; i < len(msgs); i += 1000 {
		if err := bus.PublishBatch(context.Background(), msgs[i:min(i+1000, len(msgs))]); err != nil {
			b.Fatal(err)
		}
	}
	cfg, _ := json.Marshal(map[string]any{"pattern": "drain", "start": "earliest", "ordering": "none", "max_in_flight": 1000})
	req, _ := stdhttp.NewRequest("PUT", srv.URL+"/v1/groups/bench/pull", bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := cl.Do(req); err != nil || resp.StatusCode != 201 {
		b.Fatalf("declare: %v", err)
	}
	var acked atomic.Int64
	b.ResetTimer()
	b.SetParallelism(max(1, 16/max(1, testingProcs())))
	b.RunParallel(func(pb *testing.PB) {
		for acked.Load() < int64(b.N) {
			resp, err := cl.Post(srv.URL+"/v1/groups/bench/messages:receive?max=100&wait=100ms", "application/json", nil)
			if err != nil {
				b.Error(err)
				return
			}
			var got httpapi.Messages
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err != nil {
				b.Error(err)
				return
			}
			if len(got.Messages) == 0 {
				continue
			}
			ids := make([]string, len(got.Messages))
			for i, m := range got.Messages {
				ids[i] = m.LeaseID
			}
			body, _ := json.Marshal(map[string]any{"lease_ids": ids})
			post(b, cl, srv.URL+"/v1/groups/bench/messages:ack", body)
			acked.Add(int64(len(ids)))
		}
		for pb.Next() {
		}
	})
	b.ReportMetric(float64(acked.Load())/b.Elapsed().Seconds(), "msgs/s")
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
