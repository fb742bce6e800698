package broker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kafkawire"
)

// apiCase builds a request of one key at a version and checks its
// response; each runs on a fresh raw connection to one shared broker.
type apiCase struct {
	build func(v int16) kmsg.Request
	check func(t *testing.T, v int16, resp kmsg.Response)
}

func ptr[T any](v T) *T { return &v }

func produceReq(topic string, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

func createTopicsReq(name string, parts int32, rf int16) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	req.TimeoutMillis = 5000
	return req
}

// TestEveryAPIKeyAtMinAndMaxVersion sends each served key (the group
// coordinator's keys have their own tests) at its minimum and maximum
// version over loopback TCP, kmsg-encoded, and decodes the answer.
func TestEveryAPIKeyAtMinAndMaxVersion(t *testing.T) {
	tb := startBroker(t, WithAdvertisedAddr("127.0.0.1:9999"), WithNodeID(3))
	setup := dialRaw(t, tb.addr)
	ct := createTopicsReq("p", 1, 1)
	ct.SetVersion(4)
	if r := setup.do(ct).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create p: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	pr := produceReq("p", testBatch(t, 3, -1, -1, -1))
	pr.SetVersion(7)
	if r := setup.do(pr).(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	ids := map[string][16]byte{}
	cases := map[int16]apiCase{
		0: {
			build: func(v int16) kmsg.Request { return produceReq("p", testBatch(t, 2, -1, -1, -1)) },
			check: func(t *testing.T, v int16, r kmsg.Response) {
				p := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.BaseOffset < 3 {
					t.Fatalf("partition %+v", p)
				}
			},
		},
		1: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrFetchRequest()
				req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = "p", ids["p"]
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1, 1<<20, -1
				rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
				req.Topics = []kmsg.FetchRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				p := r.(*kmsg.FetchResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.HighWatermark < 3 || p.LastStableOffset != p.HighWatermark || (v >= 5 && p.LogStartOffset != 0) {
					t.Fatalf("partition %+v", p)
				}
				// Offset 1 is inside the first batch (0-2): the whole batch comes back.
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.RecordBatches); err != nil || rb.FirstOffset != 0 || rb.NumRecords != 3 {
					t.Fatalf("first batch %+v: %v", rb, err)
				}
			},
		},
		2: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrListOffsetsRequest()
				req.ReplicaID = -1
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "p"
				for _, ts := range []int64{-2, -1, 0} {
					rp := kmsg.NewListOffsetsRequestTopicPartition()
					rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				ps := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions
				if ps[0].ErrorCode != 0 || ps[0].Offset != 0 || ps[1].Offset < 3 || ps[2].Offset != 0 || ps[2].Timestamp <= 0 {
					t.Fatalf("partitions %+v", ps)
				}
			},
		},
		3: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = ptr("p")
				req.Topics = []kmsg.MetadataRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				m := r.(*kmsg.MetadataResponse)
				if len(m.Brokers) != 1 || m.Brokers[0].NodeID != 3 || m.Brokers[0].Host != "127.0.0.1" || m.Brokers[0].Port != 9999 {
					t.Fatalf("brokers %+v", m.Brokers)
				}
				if v >= 2 && (m.ClusterID == nil || *m.ClusterID == "") {
					t.Fatal("no cluster id")
				}
				tp := m.Topics[0]
				if tp.ErrorCode != 0 || len(tp.Partitions) != 1 || tp.Partitions[0].Leader != 3 || !slices.Equal(tp.Partitions[0].ISR, []int32{3}) {
					t.Fatalf("topic %+v", tp)
				}
				if v >= 10 && tp.TopicID == [16]byte{} {
					t.Fatal("no topic id")
				}
				ids["p"] = tp.TopicID
			},
		},
		10: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKey, req.CoordinatorType = "txn-1", 1
				req.CoordinatorKeys = []string{"txn-1"}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				f := r.(*kmsg.FindCoordinatorResponse)
				code := f.ErrorCode
				if v >= 4 {
					code = f.Coordinators[0].ErrorCode
				}
				port := f.Port
				if v >= 4 {
					port = f.Coordinators[0].Port
				}
				if code != 0 || port <= 0 {
					t.Fatalf("transaction coordinator lookup: %v, port %d", kerr.ErrorForCode(code), port)
				}
			},
		},
		18: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrApiVersionsRequest()
				req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				a := r.(*kmsg.ApiVersionsResponse)
				if a.ErrorCode != 0 || len(a.ApiKeys) != len(tb.srv.versions.Ranges()) {
					t.Fatalf("api versions %+v", a)
				}
			},
		},
		19: {
			build: func(v int16) kmsg.Request { return createTopicsReq(fmt.Sprintf("created-%d", v), 2, -1) },
			check: func(t *testing.T, v int16, r kmsg.Response) {
				tp := r.(*kmsg.CreateTopicsResponse).Topics[0]
				if tp.ErrorCode != 0 || (v >= 5 && (tp.NumPartitions != 2 || tp.ReplicationFactor != 1 || len(tp.Configs) == 0)) {
					t.Fatalf("topic %+v", tp)
				}
				if tc, ok := tb.bus.TopicConfig(tp.Topic); !ok || tc.Partitions != 2 {
					t.Fatalf("topic config %+v %v", tc, ok)
				}
			},
		},
		20: {
			build: func(v int16) kmsg.Request {
				name := fmt.Sprintf("doomed-%d", v)
				if _, err := tb.bus.Kafka().CreateTopic(testCtx(t), name, topicCfg(1)); err != nil {
					t.Fatal(err)
				}
				req := kmsg.NewPtrDeleteTopicsRequest()
				req.TopicNames = []string{name}
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = ptr(name)
				req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				tp := r.(*kmsg.DeleteTopicsResponse).Topics[0]
				if tp.ErrorCode != 0 {
					t.Fatalf("delete: %v", kerr.ErrorForCode(tp.ErrorCode))
				}
				if _, ok := tb.bus.TopicConfig(fmt.Sprintf("doomed-%d", v)); ok {
					t.Fatal("topic still exists")
				}
			},
		},
		21: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = "p"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 1
				rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{rp}
				req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				p := r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.LowWatermark != 1 {
					t.Fatalf("partition %+v", p)
				}
			},
		},
		22: {
			build: func(v int16) kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() },
			check: func(t *testing.T, v int16, r kmsg.Response) {
				p := r.(*kmsg.InitProducerIDResponse)
				if p.ErrorCode != 0 || p.ProducerID < 0 || p.ProducerEpoch != 0 {
					t.Fatalf("init producer id %+v", p)
				}
			},
		},
		32: {
			build: func(v int16) kmsg.Request {
				req := kmsg.NewPtrDescribeConfigsRequest()
				rr := kmsg.NewDescribeConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "p"
				rb := kmsg.NewDescribeConfigsRequestResource()
				rb.ResourceType, rb.ResourceName = kmsg.ConfigResourceTypeBroker, "3"
				req.Resources = []kmsg.DescribeConfigsRequestResource{rr, rb}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				res := r.(*kmsg.DescribeConfigsResponse).Resources
				names := map[string]string{}
				for _, c := range res[0].Configs {
					names[c.Name] = *c.Value
				}
				if res[0].ErrorCode != 0 || names["max.message.bytes"] != fmt.Sprint(tb.srv.defaultMaxMessageBytes()) || names["cleanup.policy"] != "delete" || len(names) != len(topicConfigNames) {
					t.Fatalf("topic configs %v", names)
				}
				if res[1].ErrorCode != 0 || len(res[1].Configs) == 0 {
					t.Fatalf("broker configs %+v", res[1])
				}
			},
		},
		37: {
			build: func(v int16) kmsg.Request {
				name := fmt.Sprintf("grow-%d", v)
				if _, err := tb.bus.Kafka().CreateTopic(testCtx(t), name, topicCfg(1)); err != nil {
					t.Fatal(err)
				}
				req := kmsg.NewPtrCreatePartitionsRequest()
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = name, 3
				req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
				return req
			},
			check: func(t *testing.T, v int16, r kmsg.Response) {
				tp := r.(*kmsg.CreatePartitionsResponse).Topics[0]
				if tc, _ := tb.bus.TopicConfig(tp.Topic); tp.ErrorCode != 0 || tc.Partitions != 3 {
					t.Fatalf("topic %+v, partitions %d", tp, tc.Partitions)
				}
			},
		},
	}
	// Keys answered with a close or by other tests: SASL (sasl_test.go) and
	// the group coordinator's.
	skip := map[int16]bool{17: true, 36: true}
	for _, k := range groupKeys {
		skip[k] = true
	}
	// The transaction keys, for a transactional id nobody initialised:
	// INVALID_PRODUCER_ID_MAPPING at every version (txn_protocol_test.go
	// walks their states).
	unmapped := func(code func(kmsg.Response) int16) func(*testing.T, int16, kmsg.Response) {
		return func(t *testing.T, v int16, r kmsg.Response) {
			if c := code(r); c != kerr.InvalidProducerIDMapping.Code {
				t.Fatalf("got %v", kerr.ErrorForCode(c))
			}
		}
	}
	cases[24] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.TransactionalID, req.ProducerID = "nobody", 1
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = "p", []int32{0}
			req.Topics = append(req.Topics, rt)
			return req
		},
		check: unmapped(func(r kmsg.Response) int16 {
			return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
		}),
	}
	cases[25] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.Group = "nobody", 1, "g"
			return req
		},
		check: unmapped(func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }),
	}
	cases[26] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID = "nobody", 1
			return req
		},
		check: unmapped(func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }),
	}
	cases[28] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.TransactionalID, req.ProducerID, req.Group, req.Generation = "nobody", 1, "g", -1
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = "p"
			rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
			req.Topics = append(req.Topics, rt)
			return req
		},
		check: unmapped(func(r kmsg.Response) int16 {
			return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}),
	}
	// The describe keys (txn_describe_test.go checks their content): the
	// idempotent producer of the setup's produce, and no transaction.
	cases[61] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = "p", []int32{0, 7}
			req.Topics = append(req.Topics, rt)
			return req
		},
		check: func(t *testing.T, v int16, r kmsg.Response) {
			ps := r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions
			if len(ps) != 2 || ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("partitions %+v", ps)
			}
		},
	}
	cases[65] = apiCase{
		build: func(int16) kmsg.Request {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{"nobody"}
			return req
		},
		check: func(t *testing.T, v int16, r kmsg.Response) {
			ts := r.(*kmsg.DescribeTransactionsResponse).TransactionStates
			if len(ts) != 1 || ts[0].ErrorCode != kerr.TransactionalIDNotFound.Code {
				t.Fatalf("states %+v", ts)
			}
		},
	}
	cases[66] = apiCase{
		build: func(int16) kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
		check: func(t *testing.T, v int16, r kmsg.Response) {
			if resp := r.(*kmsg.ListTransactionsResponse); resp.ErrorCode != 0 || len(resp.TransactionStates) != 0 {
				t.Fatalf("response %+v", resp)
			}
		},
	}
	order := []int16{3, 0, 1, 2, 10, 18, 19, 20, 21, 22, 24, 25, 26, 28, 32, 37, 61, 65, 66}
	for _, r := range tb.srv.versions.Ranges() {
		if skip[r.Key] {
			continue
		}
		if _, ok := cases[r.Key]; !ok {
			t.Errorf("%s is served but has no min/max test", kmsg.NameForKey(r.Key))
		}
	}
	for _, key := range order {
		c := cases[key]
		r, ok := tb.srv.versions.Lookup(key)
		if !ok {
			t.Fatalf("%s not served", kmsg.NameForKey(key))
		}
		for _, v := range []int16{r.Min, r.Max} {
			t.Run(fmt.Sprintf("%s/v%d", kmsg.NameForKey(key), v), func(t *testing.T) {
				req := c.build(v)
				req.SetVersion(v)
				c.check(t, v, dialRaw(t, tb.addr).do(req))
			})
		}
	}
}

// TestApiVersionsDowngradeOverTCP: an ApiVersions above our maximum gets a
// version 0 UNSUPPORTED_VERSION reply with our table, and the connection
// stays usable (KIP-511).
func TestApiVersionsDowngradeOverTCP(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(kmsg.NewPtrApiVersionsRequest().MaxVersion()) // above our 4
	rc.send(req)
	_, body, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("downgrade reply %+v: %v", resp, err)
	}
	r, _ := kafkawire.DefaultVersions().Lookup(18)
	if !slices.ContainsFunc(resp.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == 18 && k.MaxVersion == r.Max }) {
		t.Fatalf("keys %+v", resp.ApiKeys)
	}
	again := kmsg.NewPtrApiVersionsRequest()
	again.SetVersion(r.Max)
	if a := rc.do(again).(*kmsg.ApiVersionsResponse); a.ErrorCode != 0 {
		t.Fatalf("retry at v%d: %v", r.Max, kerr.ErrorForCode(a.ErrorCode))
	}
}
