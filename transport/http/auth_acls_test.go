package http_test

import (
	"encoding/json"
	stdhttp "net/http"
	"testing"
	"time"

	"github.com/onexbus/onexbus/transport/auth"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// TestListACLs: GET /v1/acls lists the store's rules to a principal with
// describe on the cluster, and is 403 for one without.
func TestListACLs(t *testing.T) {
	a := newAuthEnv(t)
	r := a.do("list-acls", "GET", "/v1/acls", nil, "Authorization", basic("ops", opsPW))
	if r.status != 200 {
		t.Fatalf("ops: %d %s", r.status, r.body)
	}
	var list httpapi.ACLList
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if !list.Enabled || len(list.Rules) != 5 || list.Rules[0].Principal != "alice" || list.Rules[0].Pattern != "orders.*" ||
		list.Rules[4].Resource != "cluster" || list.Rules[4].Pattern != "" || list.Rules[4].Operations[0] != "admin" {
		t.Errorf("rules: %+v", list)
	}
	if r := a.do("list-acls", "GET", "/v1/acls", nil, "Authorization", basic("reader", readerPW)); r.status != 403 {
		t.Errorf("reader: %d, want 403", r.status)
	}
}

// TestRateLimitPerPrincipal: over its rate a principal gets 429
// rate_limited with Retry-After; another principal is unaffected.
func TestRateLimitPerPrincipal(t *testing.T) {
	store := auth.NewStore()
	for _, u := range []string{"busy", "calm"} {
		if err := store.AddUser(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, nil, httpapi.WithAuth(store), httpapi.WithRateLimiter(auth.NewRateLimiter(0.01, 2)))
	for i := range 2 {
		if r := e.do("list-topics", "GET", "/v1/topics", nil, "Authorization", basic("busy", "busy-pw")); r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
	}
	r := e.do("list-topics", "GET", "/v1/topics", nil, "Authorization", basic("busy", "busy-pw"))
	if r.status != stdhttp.StatusTooManyRequests {
		t.Fatalf("over the rate: %d %s", r.status, r.body)
	}
	if p := r.problem(t); p.Code != "rate_limited" || !p.Retryable {
		t.Errorf("problem %+v", p)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if d, _ := time.ParseDuration(r.header.Get("Retry-After") + "s"); d < 90*time.Second {
		t.Errorf("Retry-After %v: at 0.01/s a token takes 100s", d)
	}
	if r := e.do("list-topics", "GET", "/v1/topics", nil, "Authorization", basic("calm", "calm-pw")); r.status != 200 {
		t.Errorf("another principal: %d", r.status)
	}
}
