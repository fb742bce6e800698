package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdhttp "net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
)

// PushConfig declares a webhook push group: every message is POSTed to
// URL as a MessageOut JSON body. A 2xx answer acks it; 429 and 503 retry
// no sooner than Retry-After; any other 4xx is permanent (straight to the
// dead-letter queue); 5xx, timeouts and connection errors retry with
// backoff; the group's breaker pauses a failing endpoint.
type PushConfig struct {
	Pattern     string `json:"pattern" minLength:"1"`
	URL         string `json:"url" minLength:"1" doc:"An http or https URL."`
	Timeout     string `json:"timeout,omitempty" doc:"Per request (Go duration, default 10s)."`
	Ordering    string `json:"ordering,omitempty" enum:"partition,key,none" default:"partition"`
	MaxInFlight int    `json:"max_in_flight,omitempty" minimum:"0" maximum:"10000" default:"16"`
	Start       string `json:"start,omitempty" enum:"earliest,latest" default:"latest"`
	MaxAttempts int    `json:"max_attempts,omitempty" minimum:"0" maximum:"1000"`
	RetryBase   string `json:"retry_base,omitempty"`
	RetryMax    string `json:"retry_max,omitempty"`
}

// pushGroup is one webhook subscription.
type pushGroup struct {
	name    string
	cfg     PushConfig
	url     string
	shown   string // url without credentials or query, for errors and letters
	timeout time.Duration
	client  *stdhttp.Client
	sub     *core.Subscription
}

// handle POSTs m to the endpoint and maps its answer to the engine's
// outcome.
func (g *pushGroup) handle(ctx context.Context, m *core.Message) error {
	info, _ := core.Delivery(ctx)
	out := messageOut(m, encodingAuto)
	out.Group, out.Attempt = g.name, max(1, info.Attempt)
	body, err := json.Marshal(out)
	if err != nil {
		return core.Permanent(fmt.Errorf("encode message: %w", err))
	}
	rctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	req, err := stdhttp.NewRequestWithContext(rctx, stdhttp.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return core.Permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", contentJSON)
	req.Header.Set("Onex-Group", g.name)
	req.Header.Set("Onex-Attempt", strconv.Itoa(out.Attempt))
	req.Header.Set("Onex-Message-Id", m.Headers.MessageID.String())
	if tp := out.Headers["traceparent"]; tp != "" {
		req.Header.Set("traceparent", tp)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", g.shown, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == stdhttp.StatusTooManyRequests || code == stdhttp.StatusServiceUnavailable || code == stdhttp.StatusRequestTimeout:
		return core.RetryAfter(fmt.Errorf("webhook %s answered %d", g.shown, code), retryAfter(resp.Header.Get("Retry-After")))
	case code >= 400 && code < 500:
		return core.Permanent(fmt.Errorf("webhook %s answered %d", g.shown, code))
	default:
		return fmt.Errorf("webhook %s answered %d", g.shown, code)
	}
}

// maxRetryAfter caps what a webhook's Retry-After can ask for.
const maxRetryAfter = time.Hour

// retryAfter parses a Retry-After header (seconds or an HTTP date),
// capped at maxRetryAfter.
func retryAfter(v string) time.Duration {
	return min(parseRetryAfter(v), maxRetryAfter)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := stdhttp.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func (g *pushGroup) stop(ctx context.Context) error {
	if err := g.sub.Unsubscribe(ctx); err != nil {
		return fmt.Errorf("http: stop push group %s: %w", g.name, err)
	}
	return nil
}

type pushPutInput struct {
	Group string `path:"group"`
	Body  PushConfig
}

type pushOutput struct {
	Status int
	Body   PushConfig
}

func (s *Server) registerPush() {
	huma.Register(s.api, huma.Operation{
		OperationID: "put-push-group", Method: stdhttp.MethodPut, Path: "/v1/groups/{group}/push",
		Summary:     "Declare a webhook push group",
		Description: "Idempotent: 201 when declared, 200 when it exists with the same settings, 409 when it exists with others.",
		Tags:        []string{"consume"}, DefaultStatus: stdhttp.StatusCreated,
		Responses: alsoStatus[PushConfig](s, stdhttp.StatusOK, "It exists with the same settings."),
	}, s.putPush)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-push-group", Method: stdhttp.MethodGet, Path: "/v1/groups/{group}/push",
		Summary: "A push group's settings", Tags: []string{"consume"},
	}, func(ctx context.Context, in *groupInput) (*pushOutput, error) {
		s.mu.Lock()
		g := s.pushes[in.Group]
		s.mu.Unlock()
		if g == nil {
			return nil, problemf(stdhttp.StatusNotFound, "push_group_not_found", "no push group %q", in.Group)
		}
		return &pushOutput{Status: stdhttp.StatusOK, Body: g.cfg}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "delete-push-group", Method: stdhttp.MethodDelete, Path: "/v1/groups/{group}/push",
		Summary: "Stop a push group (its position stays)", Tags: []string{"consume"}, DefaultStatus: stdhttp.StatusNoContent,
	}, func(ctx context.Context, in *groupInput) (*struct{}, error) {
		s.mu.Lock()
		g := s.pushes[in.Group]
		delete(s.pushes, in.Group)
		s.mu.Unlock()
		if g == nil {
			return nil, problemf(stdhttp.StatusNotFound, "push_group_not_found", "no push group %q", in.Group)
		}
		if err := g.stop(context.WithoutCancel(ctx)); err != nil {
			return nil, s.problem(err)
		}
		return nil, nil
	})
}

func (s *Server) putPush(ctx context.Context, in *pushPutInput) (*pushOutput, error) {
	cfg := in.Body
	if err := s.authorizeSubscription(ctx, cfg.Pattern); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_url", "url %q is not an absolute http or https URL", cfg.URL)
	}
	timeout := 10 * time.Second
	if cfg.Timeout != "" {
		if timeout, err = time.ParseDuration(cfg.Timeout); err != nil || timeout < time.Millisecond || timeout > 10*time.Minute {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_timeout", "timeout %q is not a duration in [1ms, 10m]", cfg.Timeout)
		}
	}
	cfg.Timeout = timeout.String()
	pc := PullConfig{Pattern: cfg.Pattern, Ordering: cfg.Ordering, MaxInFlight: cfg.MaxInFlight, Start: cfg.Start,
		MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax}
	_, opts, err := s.subscribeOptions(&pc)
	if err != nil {
		return nil, err
	}
	cfg.Ordering, cfg.MaxInFlight, cfg.Start = pc.Ordering, pc.MaxInFlight, pc.Start
	// The request's own timeout bounds a delivery, with room to spare.
	opts = append(opts, core.SubscribeHandlerTimeout(timeout+time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.problem(ErrClosed)
	}
	if g := s.pushes[in.Group]; g != nil {
		if g.cfg != cfg {
			return nil, problemf(stdhttp.StatusConflict, "push_group_exists", "push group %q exists with other settings: delete it first", in.Group)
		}
		return &pushOutput{Status: stdhttp.StatusOK, Body: g.cfg}, nil
	}
	if s.pulls[in.Group] != nil {
		return nil, problemf(stdhttp.StatusConflict, "pull_group_exists", "group %q is a pull group", in.Group)
	}
	shown := *u
	shown.User, shown.RawQuery, shown.Fragment = nil, "", ""
	g := &pushGroup{name: in.Group, cfg: cfg, url: u.String(), shown: shown.String(), timeout: timeout, client: s.cfg.client}
	sub, err := s.bus.Subscribe(s.ctx, cfg.Pattern, in.Group, g.handle, opts...)
	if err != nil {
		return nil, s.groupProblem(err)
	}
	g.sub = sub
	s.pushes[in.Group] = g
	return &pushOutput{Status: stdhttp.StatusCreated, Body: cfg}, nil
}

// BreakerInfo is one subscriber's circuit breaker.
type BreakerInfo struct {
	Topic    string `json:"topic"`
	Group    string `json:"group"`
	State    string `json:"state" enum:"closed,open,half-open"`
	Failures int    `json:"failures" doc:"The current run of consecutive failures."`
	Opens    int    `json:"opens" doc:"How many times it opened."`
}

// BreakerList lists breakers.
type BreakerList struct {
	Breakers []BreakerInfo `json:"breakers"`
}

// ResetResult says whether a reset found the breaker.
type ResetResult struct {
	Reset bool `json:"reset" doc:"True when the breaker was open or half-open and this call closed it; false when it was closed already."`
}

type breakerInput struct {
	Group string `path:"group"`
	Topic string `path:"topic"`
}

type breakersOutput struct{ Body BreakerList }
type resetOutput struct{ Body ResetResult }

func (s *Server) registerBreakers() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-breakers", Method: stdhttp.MethodGet, Path: "/v1/breakers",
		Summary: "List circuit breakers in their real state", Tags: []string{"groups"},
	}, func(ctx context.Context, _ *struct{}) (*breakersOutput, error) {
		h := s.bus.Health()
		out := BreakerList{Breakers: make([]BreakerInfo, len(h.Breakers))}
		for i, b := range h.Breakers {
			out.Breakers[i] = BreakerInfo{Topic: b.Topic, Group: b.Group, State: b.State.String(), Failures: b.Failures, Opens: b.Opens}
		}
		return &breakersOutput{Body: out}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "reset-breaker", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/topics/{topic}/breaker:reset",
		Summary: "Reset a breaker by hand", Tags: []string{"groups"},
	}, func(ctx context.Context, in *breakerInput) (*resetOutput, error) {
		known := false
		for _, b := range s.bus.Health().Breakers {
			known = known || (b.Topic == in.Topic && b.Group == in.Group)
		}
		if !known {
			return nil, problemf(stdhttp.StatusNotFound, "breaker_not_found", "no breaker for group %q on topic %q", in.Group, in.Topic)
		}
		return &resetOutput{Body: ResetResult{Reset: s.bus.ResetBreaker(in.Topic, in.Group)}}, nil
	})
}
