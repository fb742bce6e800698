package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/onexbus/onexbus/transport/auth"
)

// aclBroker is a broker with SASL and ACLs on one principal store.
func aclBroker(t *testing.T) *testBroker {
	t.Helper()
	store := auth.NewStore()
	for _, u := range []string{"writer", "reader", "maker", "ops"} {
		if err := store.AddUser(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetRules([]auth.Rule{
		{Principal: "writer", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpWrite}},
		{Principal: "reader", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpRead}},
		{Principal: "maker", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpWrite, auth.OpCreate}},
		{Principal: "ops", Resource: auth.ResourceTopic, Pattern: "**", Operations: []auth.Operation{auth.OpAdmin}},
	}); err != nil {
		t.Fatal(err)
	}
	a, err := NewStoreAuthenticator(store, true)
	if err != nil {
		t.Fatal(err)
	}
	return startBroker(t, WithSASL(a), WithACL(store))
}

func (tb *testBroker) as(t *testing.T, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return tb.client(t, append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-pw"}.AsMechanism()), kgo.RequestRetries(0)}, opts...)...)
}

// rawAs is a raw connection authenticated with SASL PLAIN.
func rawAs(t *testing.T, addr, user string) *rawConn {
	t.Helper()
	rc := dialRaw(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = MechanismPlain
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %d", r.ErrorCode)
	}
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.SetVersion(2)
	a.SASLAuthBytes = []byte("\x00" + user + "\x00" + user + "-pw")
	if r := rc.do(a).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != 0 {
		t.Fatalf("authenticate %s: %d", user, r.ErrorCode)
	}
	return rc
}

func fetchCode(t *testing.T, rc *rawConn, topic string) (int16, int) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.do(req).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response shape %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, len(p.RecordBatches)
}

func metadata(t *testing.T, rc *rawConn, topics ...string) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, n := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	resp := rc.do(req).(*kmsg.MetadataResponse)
	out := map[string]int16{}
	for _, tp := range resp.Topics {
		if tp.Topic != nil {
			out[*tp.Topic] = tp.ErrorCode
		}
	}
	return out
}

// TestACLProduceFetchMetadata: write, read and describe rules on topics
// are enforced for the SASL principal with Kafka's codes, and the
// matching successes go through.
func TestACLProduceFetchMetadata(t *testing.T) {
	tb := aclBroker(t)
	ctx := testCtx(t)
	// ops creates both topics; writer then writes the one it may.
	for _, topic := range []string{"orders.eu", "secret"} {
		if err := tb.as(t, "ops", kgo.AllowAutoTopicCreation()).ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("ops creates %s: %v", topic, err)
		}
	}
	if err := tb.as(t, "writer").ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("w")}).FirstErr(); err != nil {
		t.Fatalf("writer writes orders.eu: %v", err)
	}

	t.Run("produce to a topic it may only read", func(t *testing.T) {
		err := tb.as(t, "reader", kgo.DisableIdempotentWrite()).ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("r")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("err = %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("idempotent producer without write on any topic", func(t *testing.T) {
		// As Kafka: InitProducerId needs idempotent-write on the cluster
		// or write on some topic, so kgo's default producer fails first.
		err := tb.as(t, "reader").ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("r")}).FirstErr()
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("err = %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("auto-create without create", func(t *testing.T) {
		err := tb.as(t, "writer", kgo.AllowAutoTopicCreation()).ProduceSync(ctx, &kgo.Record{Topic: "orders.new", Value: []byte("w")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("err = %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if _, ok := tb.srv.kl.Topic("orders.new"); ok {
			t.Fatal("topic created without the right")
		}
	})
	t.Run("auto-create with create", func(t *testing.T) {
		if err := tb.as(t, "maker", kgo.AllowAutoTopicCreation()).ProduceSync(ctx, &kgo.Record{Topic: "orders.made", Value: []byte("m")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fetch", func(t *testing.T) {
		if code, n := fetchCode(t, rawAs(t, tb.addr, "reader"), "orders.eu"); code != 0 || n == 0 {
			t.Fatalf("reader fetch: code %d, %d bytes", code, n)
		}
		for _, c := range []struct{ user, topic string }{{"writer", "orders.eu"}, {"reader", "secret"}} {
			if code, n := fetchCode(t, rawAs(t, tb.addr, c.user), c.topic); code != kerr.TopicAuthorizationFailed.Code || n != 0 {
				t.Fatalf("%s fetch %s: code %d, %d bytes", c.user, c.topic, code, n)
			}
		}
	})
	t.Run("metadata hides topics", func(t *testing.T) {
		all := metadata(t, rawAs(t, tb.addr, "reader"))
		if _, ok := all["secret"]; ok {
			t.Fatalf("reader sees secret: %v", all)
		}
		if code, ok := all["orders.eu"]; !ok || code != 0 {
			t.Fatalf("reader does not see orders.eu: %v", all)
		}
		named := metadata(t, rawAs(t, tb.addr, "reader"), "secret", "orders.eu")
		if named["secret"] != kerr.TopicAuthorizationFailed.Code || named["orders.eu"] != 0 {
			t.Fatalf("named: %v", named)
		}
		if all := metadata(t, rawAs(t, tb.addr, "ops")); len(all) < 3 {
			t.Fatalf("ops sees %v", all)
		}
	})
}

// TestACLAdminRequests: CreateTopics, CreatePartitions, DeleteRecords,
// DeleteTopics and ListOffsets answer TOPIC_AUTHORIZATION_FAILED to a
// principal without the right, and succeed for one with it.
func TestACLAdminRequests(t *testing.T) {
	tb := aclBroker(t)
	ctx := testCtx(t)
	reader, ops := tb.as(t, "reader"), tb.as(t, "ops")
	create := func(cl *kgo.Client, name string) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := create(reader, "orders.x"); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("reader CreateTopics: %d", code)
	}
	if code := create(ops, "orders.x"); code != 0 {
		t.Fatalf("ops CreateTopics: %d", code)
	}
	partitions := func(cl *kgo.Client) int16 {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "orders.x", 2
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := partitions(reader); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("reader CreatePartitions: %d", code)
	}
	if code := partitions(ops); code != 0 {
		t.Fatalf("ops CreatePartitions: %d", code)
	}
	// Raw, as kgo's sharding would stop at the Metadata refusal first.
	listOffsets := func(user, topic string) int16 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(4)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rawAs(t, tb.addr, user).do(req).(*kmsg.ListOffsetsResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := listOffsets("maker", "orders.x"); code != 0 { // write implies describe
		t.Fatalf("maker ListOffsets: %d", code)
	}
	if code := create(ops, "secret"); code != 0 {
		t.Fatalf("ops CreateTopics secret: %d", code)
	}
	if err := ops.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("s")}, &kgo.Record{Topic: "orders.x", Value: []byte("o")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if code := listOffsets("reader", "secret"); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("reader ListOffsets secret: %d", code)
	}
	deleteRecords := func(cl *kgo.Client) int16 {
		req := kmsg.NewPtrDeleteRecordsRequest()
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "orders.x"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Offset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := deleteRecords(reader); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("reader DeleteRecords: %d", code)
	}
	if code := deleteRecords(ops); code != 0 {
		t.Fatalf("ops DeleteRecords: %d", code)
	}
	deleteTopic := func(cl *kgo.Client) int16 {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{"orders.x"}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr("orders.x")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := deleteTopic(reader); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("reader DeleteTopics: %d", code)
	}
	if _, ok := tb.srv.kl.Topic("orders.x"); !ok {
		t.Fatal("topic deleted without the right")
	}
	if code := deleteTopic(ops); code != 0 {
		t.Fatalf("ops DeleteTopics: %d", code)
	}
}
