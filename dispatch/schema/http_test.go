package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/transport/kafka/broker"
)

// newRegistryServer serves a registry's API on 127.0.0.1 and returns it
// with franz-go's own client for it.
func newRegistryServer(t *testing.T) (*schema.Registry, *sr.Client, string) {
	t.Helper()
	bus := newBus(t)
	r := openRegistry(t, bus)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(schema.NewRegistryHandler(r))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return r, cl, srv.URL
}

func responseCode(t *testing.T, err error) int {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a registry response error", err)
	}
	return re.ErrorCode
}

// TestSRClientRegisterFetchCheck: franz-go's pkg/sr registers, fetches by
// id and by version (latest included), looks up, checks compatibility
// and reads and sets config against the registry's HTTP API.
func TestSRClientRegisterFetchCheck(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newRegistryServer(t)
	const subject = "orders-value"
	v1 := sr.Schema{Schema: `{"type":"object","properties":{"id":{"type":"string"}}}`, Type: sr.TypeJSON}
	ss, err := cl.CreateSchema(ctx, subject, v1)
	if err != nil {
		t.Fatal(err)
	}
	if ss.ID != 1 || ss.Version != 1 || ss.Subject != subject || ss.Type != sr.TypeJSON {
		t.Fatalf("created %+v", ss)
	}
	again, err := cl.RegisterSchema(ctx, subject, v1, -1, -1)
	if err != nil || again != ss.ID {
		t.Fatalf("registering the same schema again: id %d, %v", again, err)
	}
	byID, err := cl.SchemaByID(ctx, ss.ID)
	if err != nil || byID.Schema != v1.Schema || byID.Type != sr.TypeJSON {
		t.Fatalf("by id: %+v %v", byID, err)
	}
	for _, v := range []int{1, -1} {
		got, err := cl.SchemaByVersion(ctx, subject, v)
		if err != nil || got.ID != ss.ID || got.Version != 1 || got.Schema.Schema != v1.Schema {
			t.Fatalf("by version %d: %+v %v", v, got, err)
		}
	}
	found, err := cl.LookupSchema(ctx, subject, v1)
	if err != nil || found.ID != ss.ID || found.Version != 1 {
		t.Fatalf("lookup: %+v %v", found, err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || len(subjects) != 1 || subjects[0] != subject {
		t.Fatalf("subjects %v %v", subjects, err)
	}

	// Compatibility: closing the content model is not backward compatible
	// (BACKWARD is the default); a removed property is.
	closed := sr.Schema{Schema: `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`, Type: sr.TypeJSON}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, closed)
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("check closed: %+v %v", res, err)
	}
	_, err = cl.CreateSchema(ctx, subject, closed)
	if code := responseCode(t, err); code != 409 {
		t.Fatalf("incompatible register: code %d (%v)", code, err)
	}
	open2 := sr.Schema{Schema: `{"type":"object"}`, Type: sr.TypeJSON}
	if res, err := cl.CheckCompatibility(ctx, subject, 1, open2); err != nil || !res.Is {
		t.Fatalf("check open: %+v %v", res, err)
	}

	// Config: global default, then per subject; the incompatible schema
	// passes under NONE.
	if c := cl.Compatibility(ctx); c[0].Err != nil || c[0].Level != sr.CompatBackward {
		t.Fatalf("global config %+v", c[0])
	}
	if c := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject); c[0].Err != nil || c[0].Level != sr.CompatNone {
		t.Fatalf("set subject config %+v", c[0])
	}
	if c := cl.Compatibility(ctx, subject); c[0].Err != nil || c[0].Level != sr.CompatNone {
		t.Fatalf("subject config %+v", c[0])
	}
	v2, err := cl.CreateSchema(ctx, subject, closed)
	if err != nil || v2.Version != 2 || v2.ID != 2 {
		t.Fatalf("register under NONE: %+v %v", v2, err)
	}
	if vs, err := cl.SubjectVersions(ctx, subject); err != nil || len(vs) != 2 {
		t.Fatalf("versions %v %v", vs, err)
	}
	if c := cl.ResetCompatibility(ctx, subject); c[0].Err != nil || c[0].Level != sr.CompatNone {
		t.Fatalf("reset subject config %+v", c[0])
	}
	if c := cl.Compatibility(ctx, subject); responseCode(t, c[0].Err) != 40408 {
		t.Fatalf("config after reset: %+v", c[0])
	}
	if c := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}); c[0].Err != nil {
		t.Fatal(c[0].Err)
	}
	if c := cl.Compatibility(ctx); c[0].Level != sr.CompatFull {
		t.Fatalf("global config after set %+v", c[0])
	}

	// Deletes: soft, then permanent; version numbers are not reused.
	if err := cl.DeleteSchema(ctx, subject, 2, sr.HardDelete); responseCode(t, err) != 40407 {
		t.Fatalf("hard delete of a live version: %v", err)
	}
	if err := cl.DeleteSchema(ctx, subject, 2, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if got, err := cl.SchemaByVersion(ctx, subject, -1); err != nil || got.Version != 1 {
		t.Fatalf("latest after deleting v2: %+v %v", got, err)
	}
	if vs, err := cl.DeleteSubject(ctx, subject, sr.SoftDelete); err != nil || len(vs) != 1 || vs[0] != 1 {
		t.Fatalf("soft delete subject: %v %v", vs, err)
	}
	if _, err := cl.SubjectVersions(ctx, subject); responseCode(t, err) != 40401 {
		t.Fatalf("versions of a deleted subject: %v", err)
	}
	if vs, err := cl.DeleteSubject(ctx, subject, sr.HardDelete); err != nil || len(vs) != 2 {
		t.Fatalf("hard delete subject: %v %v", vs, err)
	}
	if _, err := cl.SchemaByID(ctx, 1); err != nil {
		t.Fatalf("a schema id stays resolvable: %v", err)
	}
	v3, err := cl.CreateSchema(ctx, subject, v1)
	if err != nil || v3.Version != 3 || v3.ID != 1 {
		t.Fatalf("register after hard delete: %+v %v", v3, err)
	}
}

// TestSRErrorCodes: Confluent's error codes and content type.
func TestSRErrorCodes(t *testing.T) {
	ctx := context.Background()
	_, cl, url := newRegistryServer(t)
	if _, err := cl.SchemaByID(ctx, 42); responseCode(t, err) != 40403 {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := cl.SchemaByVersion(ctx, "nope", 1); responseCode(t, err) != 40401 {
		t.Fatalf("unknown subject: %v", err)
	}
	if _, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{"type":"recrd"}`}); responseCode(t, err) != 42201 {
		t.Fatalf("invalid avro: %v", err)
	}
	if _, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{"type":"string"}`, Type: sr.TypeProtobuf}); responseCode(t, err) != 42201 {
		t.Fatalf("protobuf: %v", err)
	}
	if _, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{"type":"string"}`, Type: sr.TypeJSON}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SchemaByVersion(ctx, "s", 7); responseCode(t, err) != 40402 {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := cl.LookupSchema(ctx, "s", sr.Schema{Schema: `{"type":"integer"}`, Type: sr.TypeJSON}); responseCode(t, err) != 40403 {
		t.Fatalf("lookup of an unregistered schema: %v", err)
	}
	if c := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatibilityLevel(99)}); c[0].Err == nil {
		t.Fatal("a bad level was accepted")
	}
	for _, tc := range []struct {
		method, path, body string
		status, code       int
	}{
		{"GET", "/subjects/s/versions/zero", "", 422, 42202},
		{"PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203},
		{"POST", "/subjects/s/versions", `{"schema":`, 400, 400},
		{"POST", "/subjects/s/versions", `{}`, 422, 42201},
		{"GET", "/nowhere", "", 404, 404},
		{"PATCH", "/subjects", "", 405, 405},
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, url+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Code int `json:"error_code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || e.Code != tc.code || resp.Header.Get("Content-Type") != schema.ContentType {
			t.Errorf("%s %s: %d %d %q, want %d %d", tc.method, tc.path, resp.StatusCode, e.Code, resp.Header.Get("Content-Type"), tc.status, tc.code)
		}
	}
}

// TestKafkaProducerWireFormat: a kgo producer sends a value that
// franz-go's Serde encoded in Confluent's wire format for a schema
// registered through sr, to the onexbus Kafka listener; the record a
// consumer fetches back is checked by ValidateRecord, the broker's seam,
// and a record with a bad payload is refused.
func TestKafkaProducerWireFormat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := newBus(t)
	r := openRegistry(t, bus)
	srv := httptest.NewServer(schema.NewRegistryHandler(r))
	defer srv.Close()
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	const kt = "orders"
	ss, err := cl.CreateSchema(ctx, kt+"-value", sr.Schema{Schema: orderSchema, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetValidation(ctx, kt, schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	var serde sr.Serde
	serde.Register(ss.ID, map[string]any{}, sr.EncodeFn(json.Marshal), sr.DecodeFn(json.Unmarshal))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := broker.New(bus, broker.WithAdvertisedAddr(ln.Addr().String()), broker.WithAutoCreateTopics(true))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = bk.Serve(ln) }()
	defer bk.Close(context.Background())
	kc, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.ConsumeTopics(kt), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	var order map[string]any
	if err := json.Unmarshal([]byte(validOrder), &order); err != nil {
		t.Fatal(err)
	}
	value, err := serde.Encode(order)
	if err != nil {
		t.Fatal(err)
	}
	if id, _, ok := schema.ParseWire(value); !ok || id != ss.ID {
		t.Fatalf("serde did not write the wire format: % x", value[:5])
	}
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: kt, Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got *kgo.Record
	for got == nil {
		fs := kc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(rec *kgo.Record) { got = rec })
	}
	if err := r.ValidateRecord(got.Topic, "", got.Key, got.Value); err != nil {
		t.Fatalf("the produced record fails validation: %v", err)
	}
	bad := schema.AppendWire(nil, ss.ID)
	bad = append(bad, invalidOrder...)
	if err := r.ValidateRecord(kt, "", nil, bad); !errors.Is(err, schema.ErrInvalidPayload) {
		t.Fatalf("bad record: %v", err)
	}
}
