package http_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	stdhttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/transport/auth"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// authEnv is an API behind WithAuth with users, tokens and rules, and a
// clock the test moves for token expiry.
type authEnv struct {
	*env
	store                      *auth.Store
	svcToken, expiring, revoke string
	mu                         sync.Mutex
	now                        time.Time
}

const (
	alicePW  = "alice-Secret-1"
	readerPW = "reader-Secret-2"
	opsPW    = "ops-Secret-3"
)

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	a := &authEnv{now: time.Now()}
	a.store = auth.NewStore(auth.WithClock(func() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.now }))
	for user, pw := range map[string]string{"alice": alicePW, "reader": readerPW, "ops": opsPW} {
		if err := a.store.AddUser(user, pw); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.store.SetRules([]auth.Rule{
		{Principal: "alice", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpRead, auth.OpWrite}},
		{Principal: "alice", Resource: auth.ResourceGroup, Pattern: "alice.*", Operations: []auth.Operation{auth.OpAdmin}},
		{Principal: "reader", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpRead}},
		{Principal: "svc", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpWrite}},
		{Principal: "ops", Resource: auth.ResourceCluster, Operations: []auth.Operation{auth.OpAdmin}},
	}); err != nil {
		t.Fatal(err)
	}
	var err error
	if a.svcToken, _, err = a.store.CreateToken("svc", time.Hour); err != nil {
		t.Fatal(err)
	}
	if a.expiring, _, err = a.store.CreateToken("svc", time.Minute); err != nil {
		t.Fatal(err)
	}
	var rec auth.TokenRecord
	if a.revoke, rec, err = a.store.CreateToken("svc", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.store.RevokeToken(rec.ID); err != nil {
		t.Fatal(err)
	}
	a.env = newEnv(t, nil, httpapi.WithAuth(a.store))
	return a
}

func (a *authEnv) advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func bearer(tok string) string { return "Bearer " + tok }

// secrets returns every configured secret, none of which may appear in a
// response.
func (a *authEnv) secrets() []string {
	return []string{alicePW, readerPW, opsPW, a.svcToken, a.expiring, a.revoke}
}

func (a *authEnv) noSecrets(t *testing.T, r *response) {
	t.Helper()
	for _, s := range a.secrets() {
		if strings.Contains(string(r.body), s) || strings.Contains(fmt.Sprint(r.header), s) {
			t.Fatalf("a secret appears in the response %d %s", r.status, r.body)
		}
	}
}

// TestAuthRejections: each control refuses with 401 (with a challenge)
// or 403, as problem+json, and never echoes a secret.
func TestAuthRejections(t *testing.T) {
	a := newAuthEnv(t)
	a.advance(2 * time.Minute) // the one-minute token has expired
	msg := map[string]any{"value_text": "x"}
	for _, tc := range []struct {
		name, op, method, path string
		body                   any
		authz                  string
		status                 int
		code                   string
		challenge              string
	}{
		{"no credentials", "publish", "POST", "/v1/topics/orders.eu/messages", msg, "", 401, "unauthenticated", `Basic realm="onexbusd"`},
		{"wrong token", "publish", "POST", "/v1/topics/orders.eu/messages", msg, bearer("oxb_0011223344556677_nope"), 401, "unauthenticated", `error="invalid_token"`},
		{"tampered token", "publish", "POST", "/v1/topics/orders.eu/messages", msg, bearer(a.svcToken + "x"), 401, "unauthenticated", `error="invalid_token"`},
		{"expired token", "publish", "POST", "/v1/topics/orders.eu/messages", msg, bearer(a.expiring), 401, "unauthenticated", `error="invalid_token"`},
		{"revoked token", "publish", "POST", "/v1/topics/orders.eu/messages", msg, bearer(a.revoke), 401, "unauthenticated", `error="invalid_token"`},
		{"basic wrong password", "publish", "POST", "/v1/topics/orders.eu/messages", msg, basic("alice", readerPW), 401, "unauthenticated", `Bearer realm="onexbusd"`},
		{"basic unknown user", "publish", "POST", "/v1/topics/orders.eu/messages", msg, basic("mallory", alicePW), 401, "unauthenticated", `Basic realm`},
		{"basic malformed", "publish", "POST", "/v1/topics/orders.eu/messages", msg, "Basic !!!", 401, "unauthenticated", `Basic realm`},
		{"unknown scheme", "publish", "POST", "/v1/topics/orders.eu/messages", msg, "Digest x", 401, "unauthenticated", `Basic realm`},
		{"reader writes a topic it may only read", "publish", "POST", "/v1/topics/orders.eu/messages", msg, basic("reader", readerPW), 403, "forbidden", ""},
		{"reader reads a topic outside its rules", "history", "GET", "/v1/topics/payments/messages", nil, basic("reader", readerPW), 403, "forbidden", ""},
		{"token principal reads a topic it may only write", "history", "GET", "/v1/topics/orders.eu/messages", nil, bearer(a.svcToken), 403, "forbidden", ""},
		{"admin call without the right", "sync-storage", "POST", "/v1/storage:sync", nil, basic("alice", alicePW), 403, "forbidden", ""},
		{"dead letters without the right", "list-letters", "GET", "/v1/dlq/letters", nil, basic("alice", alicePW), 403, "forbidden", ""},
		{"topic delete without the right", "delete-topic", "DELETE", "/v1/topics/orders.eu", nil, basic("alice", alicePW), 403, "forbidden", ""},
		{"group outside its rules", "put-pull-group", "PUT", "/v1/groups/other/pull", map[string]any{"pattern": "orders.eu"}, basic("alice", alicePW), 403, "forbidden", ""},
		{"subscription wider than the rules", "put-pull-group", "PUT", "/v1/groups/alice.g/pull", map[string]any{"pattern": "orders.**"}, basic("alice", alicePW), 403, "forbidden", ""},
		{"ops has the cluster but no topic", "publish", "POST", "/v1/topics/orders.eu/messages", msg, basic("ops", opsPW), 403, "forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.authz != "" {
				hdr = []string{"Authorization", tc.authz}
			}
			r := a.do(tc.op, tc.method, tc.path, tc.body, hdr...).want(t, tc.status)
			if p := r.problem(t); p.Code != tc.code {
				t.Fatalf("code %q, want %q", p.Code, tc.code)
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.status == 401) != (got != "") {
				t.Fatalf("WWW-Authenticate %q, want it to contain %q", got, tc.challenge)
			}
			a.noSecrets(t, r)
		})
	}
}

// TestAuthSuccesses: the matching allowed calls go through.
func TestAuthSuccesses(t *testing.T) {
	a := newAuthEnv(t)
	msg := map[string]any{"value_text": "x"}
	a.do("publish", "POST", "/v1/topics/orders.eu/messages", msg, "Authorization", basic("alice", alicePW)).want(t, 201)
	a.do("publish", "POST", "/v1/topics/orders.eu/messages", msg, "Authorization", bearer(a.svcToken)).want(t, 201)
	a.do("publish", "POST", "/v1/topics/orders.eu/messages", msg, "Authorization", bearer(a.expiring)).want(t, 201) // not yet expired
	a.do("history", "GET", "/v1/topics/orders.eu/messages?limit=10", nil, "Authorization", basic("reader", readerPW)).want(t, 200)
	a.do("get-topic", "GET", "/v1/topics/orders.eu", nil, "Authorization", basic("reader", readerPW)).want(t, 200) // describe implied by read
	a.do("sync-storage", "POST", "/v1/storage:sync", nil, "Authorization", basic("ops", opsPW)).want(t, 200)
	a.do("list-letters", "GET", "/v1/dlq/letters", nil, "Authorization", basic("ops", opsPW)).want(t, 200)
	a.do("put-pull-group", "PUT", "/v1/groups/alice.g/pull", map[string]any{"pattern": "orders.*"}, "Authorization", basic("alice", alicePW)).want(t, 201)
}

// TestAuthPublishMultiPerMessage: a multi-topic publish is authorized
// message by message; the refused one gets a forbidden result.
func TestAuthPublishMultiPerMessage(t *testing.T) {
	a := newAuthEnv(t)
	r := a.do("publish-multi", "POST", "/v1/messages:publish", map[string]any{"messages": []map[string]any{
		{"topic": "orders.eu", "value_text": "1"}, {"topic": "payments", "value_text": "2"},
	}}, "Authorization", basic("alice", alicePW)).want(t, 200)
	var res httpapi.BatchResults
	r.decode(t, &res)
	if len(res.Results) != 2 || res.Results[0].Error != nil || res.Results[1].Error == nil || res.Results[1].Error.Code != "forbidden" {
		t.Fatalf("results %s", r.body)
	}
	if end, err := a.bus.EndOffset("payments", 0); err == nil && end != 0 {
		t.Fatalf("refused message stored: end offset %d", end)
	}
}

// TestAuthOpenAPIDocumentNeedsCredentials: no path is open once WithAuth
// is set, the generated document included.
func TestAuthOpenAPIDocumentNeedsCredentials(t *testing.T) {
	a := newAuthEnv(t)
	for _, path := range []string{"/openapi.json", "/no/such/path"} {
		resp, err := a.srv.Client().Get(a.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestAuthRawBearerRequest is what `curl -H "Authorization: Bearer $TOKEN"
// --data ...` sends, written byte by byte over loopback TCP.
func TestAuthRawBearerRequest(t *testing.T) {
	a := newAuthEnv(t)
	send := func(token string) string {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := `{"value_text":"from curl"}`
		fmt.Fprintf(conn, "POST /v1/topics/orders.raw/messages HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"+
			"Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			strings.TrimPrefix(a.srv.URL, "http://"), token, len(body), body)
		resp, err := stdhttp.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if got := send(a.svcToken); !strings.HasPrefix(got, "201 ") {
		t.Fatalf("valid token: %s", got)
	}
	if got := send(a.revoke); !strings.HasPrefix(got, "401 application/problem+json") || strings.Contains(got, a.revoke) {
		t.Fatalf("revoked token: %s", got)
	}
	if end, err := a.bus.EndOffset("orders.raw", 0); err != nil || end != 1 {
		t.Fatalf("end offset %d, %v", end, err)
	}
}
