package kafkawire

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// librdkafkaFeatures is librdkafka 2.0.2's feature map (src/rdkafka_feature.c,
// rd_kafka_feature_map) for the features a kcat user relies on: a feature
// is on only if, for every listed API, the broker's range overlaps
// [Min, Max] (rd_kafka_ApiVersion_check).
var librdkafkaFeatures = []struct {
	name string
	apis []Range
}{
	{"MsgVer2", []Range{{0, 3, 3}, {1, 4, 4}}},
	{"ApiVersion", []Range{{18, 0, 0}}},
	{"BrokerGroupCoordinator", []Range{{10, 0, 0}}},
	{"BrokerBalancedConsumer", []Range{{10, 0, 0}, {8, 1, 2}, {9, 1, 1}, {11, 0, 0}, {14, 0, 0}, {12, 0, 0}, {13, 0, 0}}},
	{"OffsetTime", []Range{{2, 1, 1}}},
	{"LZ4", []Range{{10, 0, 0}}},
	{"SaslHandshake", []Range{{17, 0, 0}}},
	{"SaslAuthReq", []Range{{17, 1, 1}, {36, 0, 0}}},
	{"IdempotentProducer", []Range{{22, 0, 0}}},
	{"ZSTD", []Range{{0, 7, 7}, {1, 10, 10}}},
}

// TestVersionsMeetLibrdkafkaFeatures: every librdkafka 2.0.2 feature
// kcat needs turns on against the advertised table (research §7 #1, #2).
func TestVersionsMeetLibrdkafkaFeatures(t *testing.T) {
	v := DefaultVersions()
	for _, f := range librdkafkaFeatures {
		t.Run(f.name, func(t *testing.T) {
			for _, want := range f.apis {
				got, ok := v.Lookup(want.Key)
				if !ok {
					t.Fatalf("%s needs %s, not advertised", f.name, kmsg.NameForKey(want.Key))
				}
				if !(want.Min <= got.Max && got.Min <= want.Max) {
					t.Fatalf("%s needs %s v%d-v%d, advertised v%d-v%d", f.name, kmsg.NameForKey(want.Key), want.Min, want.Max, got.Min, got.Max)
				}
			}
		})
	}
}

// clientMaxima are the highest versions each client sends (research §1.1);
// a client picks min(its max, ours), so each must be >= our minimum.
var clientMaxima = map[string]map[int16]int16{
	"librdkafka-2.0.2": {0: 7, 1: 11, 2: 2, 3: 4, 8: 7, 9: 7, 10: 2, 11: 5, 14: 3, 12: 3, 13: 1, 16: 4, 15: 4, 17: 1, 36: 0, 18: 3, 22: 4, 19: 4, 20: 1, 37: 0, 21: 1, 32: 1, 42: 1},
	"kafkajs-2.2.4":    {0: 7, 1: 11, 2: 3, 3: 6, 8: 5, 9: 4, 10: 2, 11: 5, 12: 3, 13: 3, 14: 3, 15: 2, 16: 2, 17: 1, 36: 1, 18: 2, 19: 3, 20: 1, 21: 1, 37: 1, 42: 1, 32: 2, 22: 1},
}

func TestVersionsReachEveryClient(t *testing.T) {
	v := DefaultVersions()
	for client, maxima := range clientMaxima {
		for key, max := range maxima {
			r, ok := v.Lookup(key)
			if !ok {
				t.Errorf("%s uses %s, not advertised", client, kmsg.NameForKey(key))
				continue
			}
			if max < r.Min {
				t.Errorf("%s sends %s up to v%d, we start at v%d", client, kmsg.NameForKey(key), max, r.Min)
			}
		}
	}
}

func TestVersionsTable(t *testing.T) {
	v := DefaultVersions()
	rs := v.Ranges()
	for i, r := range rs {
		if i > 0 && rs[i-1].Key >= r.Key {
			t.Fatalf("table not sorted at key %d", r.Key)
		}
		req := kmsg.RequestForKey(r.Key)
		if req == nil {
			t.Fatalf("key %d unknown to kmsg", r.Key)
		}
		if r.Min < 0 || r.Min > r.Max || r.Max > req.MaxVersion() {
			t.Fatalf("%s: range v%d-v%d, kmsg max v%d", kmsg.NameForKey(r.Key), r.Min, r.Max, req.MaxVersion())
		}
	}
	// The transaction keys stop before KIP-890's versions, which need
	// the transaction.version feature (not advertised).
	for _, txn := range []int16{24, 25, 26, 28} {
		if r, ok := v.Lookup(txn); !ok || r.Min != 0 || r.Max != 3 {
			t.Errorf("transaction key %d: %+v %v, want v0-v3", txn, r, ok)
		}
	}
	if r, _ := v.Lookup(0); r.Max >= 12 {
		t.Errorf("Produce v%d advertised: v12 adds partitions to transactions implicitly (KIP-890)", r.Max)
	}
	if !v.Supports(3, 12) || v.Supports(3, 13) || v.Supports(0, 2) || v.Supports(999, 0) {
		t.Fatal("Supports disagrees with the table")
	}
	w := v.Without(17, 36)
	if _, ok := w.Lookup(17); ok || len(w.Ranges()) != len(rs)-2 {
		t.Fatal("Without kept a removed key")
	}
	if len(v.ApiKeys()) != len(rs) {
		t.Fatal("ApiKeys lost entries")
	}
}

func ExampleVersions_Lookup() {
	r, _ := DefaultVersions().Lookup(11)
	fmt.Println(kmsg.NameForKey(r.Key), r.Min, r.Max)
	// Output: JoinGroup 0 9
}
