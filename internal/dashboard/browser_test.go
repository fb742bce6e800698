package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/daemon"
	"github.com/onexbus/onexbus/message"
)

const (
	orders  = "onex.evt.shop.order-placed.v1"
	refunds = "onex.evt.shop.refund-issued.v1"
)

// fixture is a daemon in process with data: orders (30 messages, amount
// i, key k-i, region header), refunds (3), a group "billing" consuming
// orders, and 5 dead letters of billing.
type fixture struct {
	bus  *core.Bus
	base string // http://admin/ui/
}

func startFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := daemon.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AdminAddr, cfg.KafkaAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	consumed := make(chan struct{})
	var bus *core.Bus
	setup := func(ctx context.Context, b *core.Bus, _ *http.ServeMux) error {
		bus = b
		for i := range 30 {
			region := "eu"
			if i%2 == 1 {
				region = "us"
			}
			m := &core.Message{Topic: orders, Key: []byte(fmt.Sprintf("k-%d", i)),
				Value:   []byte(fmt.Sprintf(`{"order":%d,"amount":%d,"note":"order number %d"}`, i, i, i)),
				Headers: message.Headers{Extra: []message.Header{{Key: "region", Value: region}}}}
			if _, err := b.Publish(ctx, m); err != nil {
				return err
			}
		}
		for i := range 3 {
			if _, err := b.Publish(ctx, &core.Message{Topic: refunds, Value: []byte(fmt.Sprintf(`{"refund":%d}`, i))}); err != nil {
				return err
			}
		}
		n := 0
		_, err := b.Subscribe(ctx, orders, "billing", func(context.Context, *core.Message) error {
			if n++; n == 30 {
				close(consumed)
			}
			return nil
		}, core.SubscribeStart(core.StartEarliest))
		if err != nil {
			return err
		}
		for i := range 5 {
			_, err := b.DeadLetters().Add(ctx, &dlq.Letter{Topic: orders, Partition: 0, Offset: int64(100 + i), Group: "billing",
				Key: []byte(fmt.Sprintf("bad-%d", i)), Value: []byte(fmt.Sprintf(`{"order":%d,"amount":-1}`, 100+i)),
				Attempts: 4, Error: "payment gateway refused: card declined", FirstFailure: time.Now().Add(-time.Minute),
				LastFailure: time.Now(), DeadLetteredAt: time.Now()})
			if err != nil {
				return err
			}
		}
		return nil
	}
	d, err := daemon.New(cfg, daemon.WithLogOutput(io.Discard), daemon.WithSetup(setup))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	select {
	case <-consumed:
	case <-time.After(30 * time.Second):
		t.Fatal("billing did not consume the orders within 30s")
	}
	return &fixture{bus: bus, base: "http://" + d.Addrs().Admin.String() + "/ui/"}
}

var csrfRe = regexp.MustCompile(`data-csrf="([0-9a-f]+)"`)

// TestStateChangeRefused: a POST without the dashboard's Origin, without
// the session or without the CSRF token is refused with 403; with all
// three it is done.
func TestStateChangeRefused(t *testing.T) {
	f := startFixture(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q allows inline scripts", csp)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, "HttpOnly") {
		t.Errorf("session cookie %q is not HttpOnly SameSite=Strict", sc)
	}
	if strings.Contains(string(body), "<script>") {
		t.Error("the page has an inline script")
	}
	m := csrfRe.FindSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	token := string(m[1])
	origin := strings.TrimSuffix(f.base, "/ui/")
	post := func(client *http.Client, origin, token string) int {
		t.Helper()
		form := url.Values{"topic": {orders}, "group": {"billing"}}
		if token != "" {
			form.Set("csrf", token)
		}
		req, _ := http.NewRequest(http.MethodPost, f.base+"breakers/reset", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	noJar := &http.Client{CheckRedirect: c.CheckRedirect}
	for _, tc := range []struct {
		name   string
		client *http.Client
		origin string
		token  string
		want   int
	}{
		{"no origin", c, "", token, http.StatusForbidden},
		{"foreign origin", c, "http://evil.example", token, http.StatusForbidden},
		{"no session", noJar, origin, token, http.StatusForbidden},
		{"no token", c, origin, "", http.StatusForbidden},
		{"wrong token", c, origin, strings.Repeat("0", 64), http.StatusForbidden},
		{"all right", c, origin, token, http.StatusSeeOther},
	} {
		if got := post(tc.client, tc.origin, tc.token); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	} // Bad input with a good session: clear 4xx, nothing done.
	for _, tc := range []struct {
		path string
		form url.Values
		want int
	}{
		{"dlq/replay", url.Values{"rate": {"fast"}}, http.StatusBadRequest},
		{"dlq/replay", url.Values{"rate": {"-1"}}, http.StatusBadRequest},
		{"dlq/replay", url.Values{"id": {"x"}}, http.StatusBadRequest},
		{"dlq/replay", url.Values{"since": {"yesterday"}}, http.StatusBadRequest},
		{"dlq/purge", url.Values{"confirm": {"yes"}}, http.StatusBadRequest},
		{"breakers/reset", url.Values{}, http.StatusBadRequest},
		{"topics/" + orders + "/messages/0/999/republish", url.Values{}, http.StatusNotFound},
		{"topics/" + orders + "/messages/x/1/republish", url.Values{}, http.StatusBadRequest},
	} {
		tc.form.Set("csrf", token)
		req, _ := http.NewRequest(http.MethodPost, f.base+tc.path, strings.NewReader(tc.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s %v: status %d, want %d", tc.path, tc.form, resp.StatusCode, tc.want)
		}
	}
	if n, _ := f.bus.DeadLetters().Count(context.Background()); n != 5 {
		t.Errorf("bad requests changed the queue: %d letters", n)
	}
	for path, want := range map[string]int{"dlq/x": 400, "dlq/999999": 404, "topics/onex.evt.none.none.v1": 404,
		"groups/nobody": 404, "ops/77": 404, "tail/onex.evt.none.none.v1": 404, "topics/" + orders + "/messages?limit=0": 200} {
		resp, err := c.Get(f.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// browser starts headless Debian chromium, or skips (fails under CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		} else if os.Getenv("CI") == "true" {
			t.Fatal("chromium is missing: CI must apt-get install -y chromium")
		} else {
			t.Skip("chromium is not installed (apt-get install -y chromium)")
		}
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// fill sets an input's value by script (CDP's SetValue loses nodes that
// htmx has touched).
func fill(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, v))
}

// clickAndLoad clicks sel and waits for the page it leads to.
func clickAndLoad(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	step(t, ctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__old = true`), chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Evaluations fail while the old page goes; ask the new one.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(sctx, chromedp.Poll[bool](`!window.__old && document.readyState === "complete"`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("click %s: no new page: %v", sel, err)
		}
	}
}

// step runs actions with a 20 s bound.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitText waits until sel's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return !!e && e.textContent.indexOf(%q)>=0})()`, sel, want)
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](js)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
		t.Fatalf("%s never contained %q (has %q): %v", sel, want, got, err)
	}
}

// shot saves a full-page screenshot into $ONEXBUS_SCREENSHOTS (make
// screenshots sets it to docs/screenshots), else into the test's
// temporary directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ONEXBUS_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives every page in headless chromium against a daemon
// in process.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	f := startFixture(t)

	t.Run("overview", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base), chromedp.WaitVisible(chromedp.CSS("#topics-count")))
		h := f.bus.Health() // the daemon has its own node topic besides the two of the fixture
		if got := text(t, ctx, "#topics-count"); got != fmt.Sprint(h.Topics) || h.Topics < 2 {
			t.Errorf("topics %q, want %d", got, h.Topics)
		}
		if got := text(t, ctx, "#messages-count"); got != fmt.Sprint(h.HistorySize) || h.HistorySize < 33 {
			t.Errorf("messages %q, want %d", got, h.HistorySize)
		}
		if got := text(t, ctx, "#dlq-total"); got != "5" {
			t.Errorf("dlq total %q, want 5", got)
		}
		if got := text(t, ctx, "#mode"); got != "standalone" {
			t.Errorf("mode %q", got)
		}
		waitText(t, ctx, ".checks", "log recovered")
		shot(t, ctx, "overview")
	})
	t.Run("narrow", func(t *testing.T) {
		step(t, ctx, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.base+"topics"), chromedp.WaitVisible(chromedp.CSS("#topics")))
		over, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.scrollWidth > window.innerWidth + 1`))
		if err != nil || over {
			t.Errorf("topics page overflows 390px: %v %v", over, err)
		}
		shot(t, ctx, "topics-narrow")
		step(t, ctx, "wide", chromedp.EmulateViewport(1280, 900))
	})
	t.Run("topics", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"topics"), chromedp.WaitVisible(chromedp.CSS("#topics")))
		waitText(t, ctx, "#topics", orders)
		waitText(t, ctx, "#topics", "EVENT")
		shot(t, ctx, "topics")
		step(t, ctx, "detail", chromedp.Navigate(f.base+"topics/"+orders), chromedp.WaitVisible(chromedp.CSS("#partitions")))
		if got := text(t, ctx, "#topic-messages"); got != "30" {
			t.Errorf("topic messages %q, want 30", got)
		}
		waitText(t, ctx, "#topic-groups", "billing")
		shot(t, ctx, "topic")
	})
	t.Run("messages", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"topics/"+orders+"/messages"), chromedp.WaitVisible(chromedp.CSS("#messages")))
		if got := text(t, ctx, "#match-count"); got != "30" {
			t.Errorf("unfiltered %q, want 30", got)
		}
		first, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#messages .msg").dataset.offset`))
		if first != "29" {
			t.Errorf("first shown offset %q, want 29 (newest first)", first)
		}
		// Key filter, through htmx (the form's hx-get swaps #results).
		step(t, ctx, "key", fill(`input[name=key]`, "k-7"), chromedp.Click(chromedp.CSS(`#browse button[type=submit]`)))
		waitText(t, ctx, "#scan-meta", "1 shown")
		waitText(t, ctx, "#messages", `"amount": 7`)
		// Expression and header filters.
		step(t, ctx, "expr", fill(`input[name=key]`, ""),
			fill(`input[name=expr]`, `json.amount >= 20 && headers.region == "eu"`),
			chromedp.Click(chromedp.CSS(`#browse button[type=submit]`)))
		waitText(t, ctx, "#scan-meta", "5 shown")
		step(t, ctx, "header+text", fill(`input[name=expr]`, ""),
			fill(`input[name=header]`, "region=us"), fill(`input[name=text]`, "number 1"),
			chromedp.Click(chromedp.CSS(`#browse button[type=submit]`)))
		waitText(t, ctx, "#scan-meta", "6 shown") // 1, 11, 13, 15, 17, 19
		step(t, ctx, "bad expr", fill(`input[name=header]`, ""), fill(`input[name=text]`, ""),
			fill(`input[name=expr]`, `json.amount >`), chromedp.Click(chromedp.CSS(`#browse button[type=submit]`)))
		waitText(t, ctx, "#results .err", "expression")
		step(t, ctx, "oldest", chromedp.Navigate(f.base+"topics/"+orders+"/messages?from=oldest&limit=3"), chromedp.WaitVisible(chromedp.CSS("#messages")))
		first, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#messages .msg").dataset.offset`))
		if first != "0" {
			t.Errorf("from oldest: first offset %q, want 0", first)
		}
		step(t, ctx, "republish", chromedp.Navigate(f.base+"topics/"+refunds+"/messages"), chromedp.WaitVisible(chromedp.CSS("#messages")))
		step(t, ctx, "click republish", chromedp.Evaluate[chromedp.Void](`window.confirm = function(){return true}; document.querySelector("#messages .msg button[hx-post]").click()`))
		waitText(t, ctx, "#messages .result", "re-published as "+refunds)
		if end, _ := f.bus.EndOffset(refunds, 0); end < 4 {
			t.Errorf("refunds end %d after re-publish, want 4", end)
		}
		curl, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#messages button.copy").dataset.copy`))
		if !strings.HasPrefix(curl, "curl -sS -X POST 'http://127.0.0.1:") || !strings.Contains(curl, "/v1/topics/"+refunds+"/messages") {
			t.Errorf("copy as curl: %q", curl)
		}
		step(t, ctx, "back", chromedp.Navigate(f.base+"topics/"+orders+"/messages?limit=5"), chromedp.WaitVisible(chromedp.CSS("#messages")))
		shot(t, ctx, "messages")
	})
	t.Run("tail", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"tail/"+orders), chromedp.WaitReady(chromedp.CSS("#tail-rows")))
		// The stream is open once htmx's SSE source reports it.
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`(function(){var e=document.querySelector("#tail");return !!(e && e["htmx-internal-data"] && e["htmx-internal-data"].sseEventSource && e["htmx-internal-data"].sseEventSource.readyState===1)})()`)); err != nil {
			t.Fatalf("tail stream not open: %v", err)
		}
		if _, err := f.bus.Publish(context.Background(), &core.Message{Topic: orders, Key: []byte("live-1"), Value: []byte(`{"live":true}`)}); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "#tail-rows", `"live": true`)
		// Paused: a second message is not shown.
		step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#pause")))
		waitText(t, ctx, "#tail-state", "paused")
		if _, err := f.bus.Publish(context.Background(), &core.Message{Topic: orders, Key: []byte("live-2"), Value: []byte(`{"paused":true}`)}); err != nil {
			t.Fatal(err)
		}
		// Resume only once the page has received (and dropped) that
		// message: otherwise it may arrive after the resume.
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		defer pcancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`Number(document.querySelector("#pause").getAttribute("data-dropped")||"0")>=1`)); err != nil {
			t.Fatalf("the message published while paused never reached the page: %v", err)
		}
		step(t, ctx, "resume", chromedp.Click(chromedp.CSS("#pause")))
		if _, err := f.bus.Publish(context.Background(), &core.Message{Topic: orders, Key: []byte("live-3"), Value: []byte(`{"resumed":true}`)}); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "#tail-rows", `"resumed": true`)
		if got := text(t, ctx, "#tail-rows"); strings.Contains(got, "paused") {
			t.Error("a message published while paused was shown")
		}
		shot(t, ctx, "tail")
	})
	t.Run("groups", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"groups"), chromedp.WaitVisible(chromedp.CSS("#groups")))
		waitText(t, ctx, "#groups", "billing")
		shot(t, ctx, "groups")
		step(t, ctx, "detail", chromedp.Navigate(f.base+"groups/billing"), chromedp.WaitVisible(chromedp.CSS("#group-parts")))
		waitText(t, ctx, "#group-parts", orders)
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`!!document.querySelector("#trend .uplot canvas")`)); err != nil {
			t.Fatalf("no uPlot chart: %v", err)
		}
		shot(t, ctx, "group")
	})
	t.Run("breakers", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"breakers"), chromedp.WaitVisible(chromedp.CSS("#breakers")))
		waitText(t, ctx, "#breakers", "billing")
		waitText(t, ctx, "#breakers", "closed")
		clickAndLoad(t, ctx, "#breakers button")
		waitText(t, ctx, "#breakers", "billing") // redirected back after the reset
		shot(t, ctx, "breakers")
	})
	t.Run("config", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"config"), chromedp.WaitVisible(chromedp.CSS("#config")))
		waitText(t, ctx, "#config", "data_dir")
		shot(t, ctx, "config")
	})
	t.Run("dlq", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(f.base+"dlq"), chromedp.WaitVisible(chromedp.CSS("#letters")))
		if got := text(t, ctx, "#dlq-shown"); got != "5" {
			t.Errorf("letters shown %q, want 5", got)
		}
		shot(t, ctx, "dlq")
		clickAndLoad(t, ctx, "#letters a")
		waitText(t, ctx, "#letter-error", "card declined")
		shot(t, ctx, "letter")
		step(t, ctx, "filter", chromedp.Navigate(f.base+"dlq?error=declined&group=billing"), chromedp.WaitVisible(chromedp.CSS("#letters")))
		step(t, ctx, "dry run", fill(`input[name=to_group]`, "billing"), chromedp.Click(chromedp.CSS("#dry-run")))
		waitText(t, ctx, "#count", "5 letters would be affected")
		if n, _ := f.bus.DeadLetters().Count(context.Background()); n != 5 {
			t.Errorf("the dry run changed the queue: %d letters", n)
		}
		step(t, ctx, "rate", fill(`input[name=rate]`, "20"))
		clickAndLoad(t, ctx, "#replay")
		waitText(t, ctx, "#op-status", "succeeded")
		waitText(t, ctx, "#progress", "5 of 5 done")
		shot(t, ctx, "replay")
		if n, _ := f.bus.DeadLetters().Count(context.Background()); n != 0 {
			t.Errorf("%d letters left after the replay, want 0", n)
		}
	})
	t.Run("purge", func(t *testing.T) {
		for i := range 3 {
			if _, err := f.bus.DeadLetters().Add(context.Background(), &dlq.Letter{Topic: refunds, Group: "g", Offset: int64(i), Error: "boom"}); err != nil {
				t.Fatal(err)
			}
		}
		step(t, ctx, "open", chromedp.Navigate(f.base+"dlq?topic="+refunds), chromedp.WaitVisible(chromedp.CSS("#letters")))
		step(t, ctx, "purge unconfirmed", chromedp.Evaluate[chromedp.Void](`window.alert = function(){}`), chromedp.Click(chromedp.CSS("#purge")))
		if n, _ := f.bus.DeadLetters().Count(context.Background()); n != 3 {
			t.Fatalf("purge without the typed confirmation removed letters: %d left", n)
		}
		step(t, ctx, "confirm", fill("#confirm", "purge"))
		clickAndLoad(t, ctx, "#purge")
		waitText(t, ctx, "#op-status", "succeeded")
		waitText(t, ctx, "#progress", "3 of 3 done")
		if n, _ := f.bus.DeadLetters().Count(context.Background()); n != 0 {
			t.Errorf("%d letters left after the purge", n)
		}
	})
	if t.Failed() {
		return
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("ONEXBUS_SCREENSHOTS"), "overview.png")); os.Getenv("ONEXBUS_SCREENSHOTS") != "" && errors.Is(err, os.ErrNotExist) {
		t.Error("no screenshots written")
	}
}
