package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/daemon"
)

const (
	alicePW    = "alice-Secret-pw-1"
	bobPW      = "bob-Secret-pw-2"
	upstreamPW = "upstream-Secret-pw-3"
	failTopic  = "onex.evt.secret.fail.v1"
	shared     = "onex.evt.shared.orders.v1"
)

// securedConfig writes a configuration file with TLS on every listener,
// PLAIN allowed and rules (alice: everything; bob: read the shared
// topics), then adds users and tokens through the command line as an
// operator would. It returns the file and the tokens: a valid one of
// alice, an expired one and a revoked one.
func securedConfig(t *testing.T, p *pki) (file string, tokens []string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "onexbusd.yaml")
	body := fmt.Sprintf(`# onexbusd test configuration: kept by every edit
security:
  allow_plain: true # kcat PLAIN
  acls:
    - {principal: alice, resource: topic, pattern: "**", operations: [admin]}
    - {principal: alice, resource: group, pattern: "**", operations: [admin]}
    - {principal: alice, resource: cluster, operations: [admin]}
    - {principal: alice, resource: transactional-id, pattern: "etl.*", operations: [write]}
    - {principal: bob, resource: topic, pattern: "onex.evt.shared.**", operations: [read]}
    - {principal: bob, resource: group, pattern: "**", operations: [read]}
kafka:
  tls: {cert_file: %[1]s, key_file: %[2]s}
http:
  tls: {cert_file: %[1]s, key_file: %[2]s}
admin:
  tls: {cert_file: %[1]s, key_file: %[2]s}
`, p.certFile, p.keyFile)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, u := range [][2]string{{"alice", alicePW}, {"bob", bobPW}} {
		if code, _, errs := runCLI(t, u[1]+"\n", nil, "user", "add", u[0], "--password-stdin", "--config", file); code != 0 {
			t.Fatalf("user add %s: %d %s", u[0], code, errs)
		}
	}
	create := func(args ...string) string {
		code, out, errs := runCLI(t, "", nil, append([]string{"token", "create", "--config", file}, args...)...)
		if code != 0 {
			t.Fatalf("token create: %d %s", code, errs)
		}
		if strings.Contains(errs, strings.TrimSpace(out)) {
			t.Fatal("the token is printed twice")
		}
		return strings.TrimSpace(out)
	}
	valid, expired, revoked := create("alice"), create("alice", "--ttl", "1ms"), create("alice")
	if code, _, errs := runCLI(t, "", nil, "token", "revoke", tokenID(revoked), "--config", file); code != 0 {
		t.Fatalf("token revoke: %s", errs)
	}
	return file, []string{valid, expired, revoked}
}

// tokenID is the id part of oxb_<id>_<secret>.
func tokenID(tok string) string { return strings.SplitN(tok, "_", 3)[1] }

// TestSecurityEndToEnd starts onexbusd with TLS on every listener, users
// and tokens made by `onexbusd user add` and `token create`, and rules,
// then: kcat with SASL PLAIN and SCRAM-SHA-256 over TLS, kgo with
// SCRAM-SHA-512 over TLS (a wrong password and a write the ACLs do not
// allow refused), curl with a bearer token and with Basic (expired and
// revoked tokens, no credentials: 401 with WWW-Authenticate; a publish
// the ACLs refuse: 403 problem+json), the admin listener (probes open,
// /metrics authenticated), and a dead letter whose handler error carries
// secrets. Finally every log line, the dead letter, `config print` and
// `config print --sources` are searched for every secret: none appears.
func TestSecurityEndToEnd(t *testing.T) {
	kcat := needSecTool(t, "kcat")
	curl := needSecTool(t, "curl")
	p := newPKI(t)
	file, toks := securedConfig(t, p)
	valid, expired, revoked := toks[0], toks[1], toks[2]

	// The edits kept the comment and made the file private.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "kept by every edit") || !strings.Contains(string(raw), "# kcat PLAIN") {
		t.Errorf("comments lost:\n%s", raw)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, s := range []string{alicePW, bobPW, valid, revoked} {
		if strings.Contains(string(raw), s) {
			t.Fatal("a password or token is stored in the file")
		}
	}

	env := map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN",
		"KAFKA_SASL_USERNAME": "up", "KAFKA_SASL_PASSWORD": upstreamPW}
	loaded, err := daemon.Load(daemon.Layers{File: file, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loaded.Config
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.AdminAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeHeartbeatInterval = 0
	logs := &logBuffer{t: t}
	r := startDaemon(t, cfg, daemon.WithLogOutput(logs), daemon.WithSetup(func(ctx context.Context, bus *core.Bus, _ *http.ServeMux) error {
		_, err := bus.Subscribe(ctx, failTopic, "failer", func(context.Context, *core.Message) error {
			return core.Permanent(fmt.Errorf("upstream refused: Authorization: Bearer %s; password=%s; token %s", valid, alicePW, revoked))
		}, core.SubscribeStart(core.StartEarliest))
		return err
	}))
	a := r.d.Addrs()
	kafkaAddr := a.Kafka.String()

	// kcat: PLAIN over TLS produces, SCRAM-SHA-256 over TLS consumes.
	kc := func(mech, user, pw string, args ...string) *exec.Cmd {
		return exec.Command(kcat, append([]string{"-b", kafkaAddr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + pw, "-X", "ssl.ca.location=" + p.caFile}, args...)...)
	}
	prod := kc("PLAIN", "alice", alicePW, "-P", "-t", shared)
	prod.Stdin = strings.NewReader("from-kcat-plain\n")
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat PLAIN produce: %v\n%s", err, out)
	}
	out, err := kc("SCRAM-SHA-256", "bob", bobPW, "-C", "-t", shared, "-o", "beginning", "-e", "-c", "1", "-f", "%s\n").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "from-kcat-plain") {
		t.Fatalf("kcat SCRAM-SHA-256 consume: %v\n%s", err, out)
	}
	bad, err := kc("SCRAM-SHA-256", "bob", "wrong-pw", "-L", "-m", "5").CombinedOutput()
	if err == nil {
		t.Errorf("kcat with a wrong password listed metadata:\n%s", bad)
	}

	// kgo: SCRAM-SHA-512 over TLS.
	sc := func(user, pw string, opts ...kgo.Opt) *kgo.Client {
		return kafkaClient(t, kafkaAddr, append([]kgo.Opt{kgo.DialTLSConfig(p.clientTLS()),
			kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()), kgo.RequestRetries(0)}, opts...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sc("alice", alicePW).ProduceSync(ctx, &kgo.Record{Topic: shared, Value: []byte("from-kgo-scram")}).FirstErr(); err != nil {
		t.Fatalf("kgo SCRAM produce: %v", err)
	}
	if recs := consumeWith(t, sc("bob", bobPW), shared, 2); string(recs[1].Value) != "from-kgo-scram" {
		t.Errorf("kgo SCRAM consume: %q", recs[1].Value)
	}
	// (Not idempotent: bob, with write on no topic, would be refused
	// the producer id first, CLUSTER_AUTHORIZATION_FAILED, as by Kafka.)
	if err := sc("bob", bobPW, kgo.DisableIdempotentWrite()).ProduceSync(ctx, &kgo.Record{Topic: shared, Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("bob writing a topic he may only read: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// The transactional-id rule: alice commits a transaction as etl.app;
	// bob, with no right on the id, is refused.
	transact := func(user, pw string) error {
		cl := sc(user, pw, kgo.TransactionalID("etl.app"))
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: shared, Value: []byte("from-a-transaction")}).FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if err := transact("alice", alicePW); err != nil {
		t.Errorf("alice's transaction as etl.app: %v", err)
	}
	if err := transact("bob", bobPW); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Errorf("bob's transaction as etl.app: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	if err := sc("alice", "wrong-pw").ProduceSync(short, &kgo.Record{Topic: shared, Value: []byte("x")}).FirstErr(); err == nil {
		t.Error("kgo with a wrong password produced")
	}
	cancelShort()

	// curl: bearer tokens and Basic over TLS.
	api := "https://" + a.HTTP.String()
	req := func(args ...string) (code int, headers, body string) {
		hf := filepath.Join(t.TempDir(), "h")
		cmd := exec.Command(curl, append([]string{"-sS", "--cacert", p.caFile, "-D", hf, "-o", "-"}, args...)...)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		h, _ := os.ReadFile(hf)
		fmt.Sscanf(string(h), "HTTP/%s %d", new(string), &code)
		return code, string(h), string(b)
	}
	bearer := func(tok string) string { return "Authorization: Bearer " + tok }
	if code, _, body := req("-H", bearer(valid), api+"/v1/topics"); code != 200 || !strings.Contains(body, shared) {
		t.Errorf("bearer token: %d %s", code, body)
	}
	for name, tok := range map[string]string{"expired": expired, "revoked": revoked, "unknown": "oxb_0000000000000000_nope"} {
		code, h, body := req("-H", bearer(tok), api+"/v1/topics")
		if code != 401 || !strings.Contains(h, `error="invalid_token"`) || !strings.Contains(strings.ToLower(h), "content-type: application/problem+json") {
			t.Errorf("%s token: %d\n%s%s", name, code, h, body)
		}
	}
	if code, h, body := req(api + "/v1/topics"); code != 401 || !strings.Contains(strings.ToLower(h), "www-authenticate: bearer") || !strings.Contains(body, `"code":"unauthenticated"`) {
		t.Errorf("no credentials: %d\n%s%s", code, h, body)
	}
	if code, _, body := req("-u", "alice:"+alicePW, api+"/v1/topics"); code != 200 {
		t.Errorf("Basic: %d %s", code, body)
	}
	if code, _, _ := req("-u", "alice:wrong", api+"/v1/topics"); code != 401 {
		t.Errorf("Basic with a wrong password: %d", code)
	}
	code, h, body := req("-u", "bob:"+bobPW, "-H", "Content-Type: application/json", "-d", `{"value":"x"}`, api+"/v1/topics/"+shared+"/messages")
	if code != 403 || !strings.Contains(strings.ToLower(h), "application/problem+json") || !strings.Contains(body, `"code":"forbidden"`) {
		t.Errorf("bob publishing: %d\n%s%s", code, h, body)
	}

	// Admin listener: probes open, the rest authenticated.
	admin := "https://" + a.Admin.String()
	if code, _, _ := req(admin + "/readyz"); code != 200 {
		t.Errorf("/readyz without credentials: %d", code)
	}
	if code, _, _ := req(admin + "/metrics"); code != 401 {
		t.Errorf("/metrics without credentials: %d", code)
	}
	if code, _, _ := req("-H", bearer(valid), admin+"/metrics"); code != 200 {
		t.Errorf("/metrics with a token: %d", code)
	}
	if code, _, _ := req("-u", "bob:"+bobPW, admin+"/ui/"); code != 403 {
		t.Errorf("dashboard for bob: %d, want 403", code)
	}

	// A dead letter whose error names secrets.
	if _, err := r.d.Bus().Publish(ctx, &core.Message{Topic: failTopic, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var letters []dlq.Letter
	eventually(t, "dead letter", func() bool {
		var err error
		letters, err = r.d.Bus().DeadLetters().List(ctx, dlq.Filter{Topic: failTopic, Limit: dlq.All})
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		return len(letters) == 1
	})
	_, _, dlqBody := req("-H", bearer(valid), api+"/v1/dlq/letters?topic="+failTopic)

	// Every output, every secret.
	_, print1, _ := runCLI(t, "", env, "config", "print", "--config", file)
	_, print2, _ := runCLI(t, "", env, "config", "print", "--sources", "--config", file)
	_, print3, _ := runCLI(t, "", env, "config", "print", "-o", "json", "--config", file)
	if !strings.Contains(print2, "security.users = \"alice (SCRAM-SHA-256 SCRAM-SHA-512); bob") {
		t.Errorf("config print --sources does not summarise the users:\n%s", print2)
	}
	secrets := []string{alicePW, bobPW, upstreamPW}
	for _, tok := range toks {
		secrets = append(secrets, tok, tok[strings.LastIndex(tok, "_")+1:])
	}
	secrets = append(secrets, p.keyLines()...)
	for _, l := range strings.Split(string(raw), "\n") { // stored keys, salts, hashes
		for _, k := range []string{"salt: ", "stored_key: ", "server_key: ", "sha256: "} {
			if i := strings.Index(l, k); i >= 0 {
				secrets = append(secrets, strings.TrimSpace(l[i+len(k):]))
			}
		}
	}
	r.stop(t)
	outputs := map[string]string{"log": logs.String(), "dead letter": letters[0].Error, "dlq over HTTP": dlqBody,
		"config print": print1, "config print --sources": print2, "config print -o json": print3}
	for name, text := range outputs {
		if text == "" {
			t.Errorf("%s is empty", name)
		}
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.6s…)", name, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "authentication failed") {
		t.Error("failed logins are not in the log")
	}
	t.Logf("searched %d outputs for %d secrets", len(outputs), len(secrets))
}

// consumeWith reads n records of topic from the start with cl's options.
func consumeWith(t *testing.T, base *kgo.Client, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(base.Opts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, fs.Err())
		}
		out = append(out, fs.Records()...)
	}
	return out
}
