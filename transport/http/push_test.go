package http_test

import (
	"context"
	"encoding/json"
	"io"
	stdhttp "net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/testutil"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// A webhook that fails, rate-limits and recovers: 5xx is retried with
// backoff, 429 no sooner than Retry-After, another 4xx is permanent, 2xx
// acks; every message ends acked or dead-lettered, none lost.
func TestWebhookPush(t *testing.T) {
	e := newEnv(t, noBreaker)
	var mu sync.Mutex
	calls := map[string][]time.Time{}
	hook := httptest.NewServer(stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		b, _ := io.ReadAll(r.Body)
		var m httpapi.MessageOut
		if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Onex-Group") != "hooks" {
			t.Errorf("webhook got %s (%v)", b, err)
			w.WriteHeader(400)
			return
		}
		v := *m.ValueText
		mu.Lock()
		calls[v] = append(calls[v], time.Now())
		n := len(calls[v])
		mu.Unlock()
		switch {
		case v == "flaky" && n <= 2:
			w.WriteHeader(500) // retried with backoff
		case v == "limited" && n == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		case v == "poison":
			w.WriteHeader(404)
		default:
			if m.Attempt != n {
				t.Errorf("%s: attempt %d on call %d", v, m.Attempt, n)
			}
			w.WriteHeader(204)
		}
	}))
	defer hook.Close()
	e.do("put-push-group", "PUT", "/v1/groups/hooks/push", map[string]any{"pattern": "events", "url": hook.URL, "start": "earliest",
		"ordering": "none", "retry_base": "20ms", "retry_max": "50ms", "max_attempts": 5}).want(t, 201)
	e.do("put-push-group", "PUT", "/v1/groups/hooks/push", map[string]any{"pattern": "events", "url": "ftp://x"}).want(t, 400).problem(t)
	for _, v := range []string{"ok", "flaky", "limited", "poison"} {
		e.publish("events", v, v)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		off, ok, _ := e.bus.GroupOffset("hooks", "events", 0)
		return ok && off.Offset == 4
	}, "every message acked or dead-lettered")
	mu.Lock()
	defer mu.Unlock()
	if len(calls["ok"]) != 1 || len(calls["flaky"]) != 3 || len(calls["limited"]) != 2 || len(calls["poison"]) != 1 {
		t.Fatalf("calls %v", calls)
	}
	if d := calls["limited"][1].Sub(calls["limited"][0]); d < time.Second {
		t.Fatalf("retried %v after a 429 with Retry-After: 1", d)
	}
	letters, _ := e.bus.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
	if len(letters) != 1 || string(letters[0].Value) != "poison" || letters[0].Attempts != 1 {
		t.Fatalf("letters %+v", letters)
	}
	var cfg httpapi.PushConfig
	e.do("get-push-group", "GET", "/v1/groups/hooks/push", nil).want(t, 200).decode(t, &cfg)
	if cfg.URL != hook.URL || cfg.Timeout != "10s" {
		t.Fatalf("config %+v", cfg)
	}
	e.do("delete-push-group", "DELETE", "/v1/groups/hooks/push", nil).want(t, 204)
}

// The breaker pauses an endpoint that keeps failing: with threshold 2,
// a down webhook is called twice, then no more until it is reset.
func TestWebhookBreakerPauses(t *testing.T) {
	e := newEnv(t, []core.Option{core.WithBreaker(core.BreakerPolicy{Threshold: 2, ResetTimeout: time.Hour})})
	var mu sync.Mutex
	n := 0
	hook := httptest.NewServer(stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.WriteHeader(502)
	}))
	defer hook.Close()
	e.do("put-push-group", "PUT", "/v1/groups/down/push", map[string]any{"pattern": "e", "url": hook.URL, "start": "earliest",
		"retry_base": "1ms", "retry_max": "1ms", "max_attempts": 100}).want(t, 201)
	e.publish("e", "", "x")
	var list httpapi.BreakerList
	testutil.Eventually(t, 10*time.Second, func() bool {
		e.do("list-breakers", "GET", "/v1/breakers", nil).want(t, 200).decode(t, &list)
		return len(list.Breakers) == 1 && list.Breakers[0].State == "open"
	}, "the breaker opens")
	// Open, it lets nothing through: a second look at the count after a
	// pause shows no further calls.
	mu.Lock()
	seen := n
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if seen != 2 || n != 2 {
		t.Fatalf("webhook called %d then %d times, want 2 (threshold) while open", seen, n)
	}
}
