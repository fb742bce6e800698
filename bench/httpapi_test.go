package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	stdhttp "net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	httpapi "github.com/onexbus/onexbus/transport/http"
	"github.com/onexbus/onexbus/transport/memory"
)

// httpReceivers is how many clients of the HTTP row's subscriber each
// receive up to httpReceiveMax leases and ack them in one call.
const (
	httpReceivers  = 4
	httpReceiveMax = 100
)

// httpInstance is onexbus's HTTP API (transport/http, in this process on
// 127.0.0.1 through net/http with keep-alive connections) on a memory
// bus, so that the row is the HTTP layer's cost: publish is one POST
// /v1/topics/{topic}/messages per message (value_b64; the topic has
// childRetention), and the
// subscriber is a pull group ("ordering": "none") drained by
// httpReceivers clients, each receiving up to httpReceiveMax leases with
// a long poll and acking them in one call; a message counts as handled
// once its ack returned.
type httpInstance struct {
	topic  string
	bus    *core.Bus
	api    *httpapi.Server
	srv    *stdhttp.Server
	base   string
	client *stdhttp.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func openHTTP(ctx context.Context, topic string, handled func([]byte)) (_ instance, err error) {
	h := &httpInstance{topic: topic, client: &stdhttp.Client{Transport: &stdhttp.Transport{MaxIdleConnsPerHost: 256}}}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.close())
		}
	}()
	if h.bus, err = memory.New(core.WithLogger(hclog.NewNullLogger())); err != nil {
		return nil, err
	}
	if h.api, err = httpapi.New(h.bus); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.base = "http://" + ln.Addr().String()
	h.srv = &stdhttp.Server{Handler: h.api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	if _, err = h.bus.CreateTopic(ctx, topic, core.TopicConfig{Partitions: 1, Retention: childRetention}); err != nil {
		return nil, err
	}
	if handled == nil {
		return h, nil
	}
	decl, _ := json.Marshal(map[string]any{"pattern": topic, "start": "earliest", "ordering": "none", "max_in_flight": 1000})
	if _, err = h.do(ctx, stdhttp.MethodPut, "/v1/groups/bench/pull", decl); err != nil {
		return nil, fmt.Errorf("declare the pull group: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for range httpReceivers {
		h.wg.Go(func() {
			for rctx.Err() == nil {
				if err := h.receive(rctx, handled); err != nil && rctx.Err() == nil {
					h.fail(err)
					return
				}
			}
		})
	}
	return h, nil
}

// receive leases up to httpReceiveMax messages, acks them and reports
// each as handled.
func (h *httpInstance) receive(ctx context.Context, handled func([]byte)) error {
	body, err := h.do(ctx, stdhttp.MethodPost, fmt.Sprintf("/v1/groups/bench/messages:receive?max=%d&wait=100ms&value_encoding=base64", httpReceiveMax), nil)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	var got httpapi.Messages
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if len(got.Messages) == 0 {
		return nil
	}
	ids := make([]string, len(got.Messages))
	for i, m := range got.Messages {
		ids[i] = m.LeaseID
	}
	ack, _ := json.Marshal(map[string]any{"lease_ids": ids})
	if _, err := h.do(ctx, stdhttp.MethodPost, "/v1/groups/bench/messages:ack", ack); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	for _, m := range got.Messages {
		handled(m.ValueB64)
	}
	return nil
}

// do sends one request and returns the body of a 2xx answer.
func (h *httpInstance) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := stdhttp.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

func (h *httpInstance) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
	}
}

func (h *httpInstance) publish(ctx context.Context, payload []byte) error {
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	if err != nil {
		return err
	}
	body, err := json.Marshal(httpapi.MessageIn{ValueB64: payload})
	if err != nil {
		return err
	}
	_, err = h.do(ctx, stdhttp.MethodPost, "/v1/topics/"+h.topic+"/messages", body)
	return err
}

func (h *httpInstance) close() error {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var err error
	if h.srv != nil {
		err = h.srv.Shutdown(ctx)
	}
	if h.api != nil {
		err = errors.Join(err, h.api.Close(ctx))
	}
	if h.bus != nil {
		err = errors.Join(err, h.bus.Close(ctx))
	}
	return err
}
