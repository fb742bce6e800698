package kafkawire

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersionsKey is the ApiVersions request key, whose handling differs
// (downgrade replies, a version 0 response header).
const ApiVersionsKey int16 = 18

// Range is the advertised version range of one API key.
type Range struct {
	Key      int16
	Min, Max int16
}

// Versions is the table of served API keys. It feeds both the ApiVersions
// response and the request check, so what is advertised is exactly what is
// accepted. A Versions is immutable; its methods are safe for concurrent
// use.
type Versions struct {
	ranges []Range // sorted by key
}

// defaultRanges is the table of research/kafka-broker.md §1.2 ("Advertise"),
// first release plus SASL. The minimums are the old versions librdkafka
// 2.0.2 needs to turn its features on (see versions_test.go); the
// transaction keys stop before KIP-890 (EndTxn v5, AddPartitionsToTxn v4,
// Produce v12), which needs the transaction.version feature.
var defaultRanges = []Range{
	{0, 3, 11}, // Produce: MsgVer2 needs 3, ZSTD 7
	{1, 4, 12}, // Fetch: MsgVer2 needs 4, ZSTD 10
	{2, 1, 7},  // ListOffsets: OffsetTime needs 1; v7 = max timestamp
	{3, 0, 12}, // Metadata
	{8, 0, 8},  // OffsetCommit: librdkafka needs 1-2
	{9, 1, 7},  // OffsetFetch: librdkafka needs 1
	{10, 0, 4}, // FindCoordinator
	{11, 0, 9}, // JoinGroup: librdkafka needs 0
	{12, 0, 4}, // Heartbeat
	{13, 0, 5}, // LeaveGroup
	{14, 0, 5}, // SyncGroup
	{15, 0, 5}, // DescribeGroups
	{16, 0, 4}, // ListGroups
	{17, 0, 1}, // SaslHandshake: librdkafka 2.0.2 needs 0
	{18, 0, 4}, // ApiVersions
	{19, 0, 7}, // CreateTopics
	{20, 0, 5}, // DeleteTopics
	{21, 0, 2}, // DeleteRecords
	{22, 0, 4}, // InitProducerId: IdempotentProducer needs 0
	{24, 0, 3}, // AddPartitionsToTxn (v4+ is broker to broker)
	{25, 0, 3}, // AddOffsetsToTxn
	{26, 0, 3}, // EndTxn (v5: KIP-890)
	{28, 0, 3}, // TxnOffsetCommit
	{29, 1, 3}, // DescribeAcls: v1 adds pattern types (Kafka 4 starts there); the broker serves it only with ACLs
	{30, 1, 3}, // CreateAcls
	{31, 1, 3}, // DeleteAcls
	{32, 0, 4}, // DescribeConfigs
	{36, 0, 2}, // SaslAuthenticate
	{37, 0, 3}, // CreatePartitions
	{42, 0, 2}, // DeleteGroups
	{47, 0, 0}, // OffsetDelete
	{61, 0, 0}, // DescribeProducers
	{65, 0, 0}, // DescribeTransactions
	{66, 0, 2}, // ListTransactions: v1 duration filter, v2 id pattern
}

// DefaultVersions returns the broker's full table.
func DefaultVersions() *Versions {
	return &Versions{ranges: slices.Clone(defaultRanges)}
}

// Without returns a copy of v without the given keys.
func (v *Versions) Without(keys ...int16) *Versions {
	out := &Versions{}
	for _, r := range v.ranges {
		if !slices.Contains(keys, r.Key) {
			out.ranges = append(out.ranges, r)
		}
	}
	return out
}

// Lookup returns the range of key, and false if key is not served.
func (v *Versions) Lookup(key int16) (Range, bool) {
	i, ok := slices.BinarySearchFunc(v.ranges, key, func(r Range, k int16) int { return int(r.Key) - int(k) })
	if !ok {
		return Range{}, false
	}
	return v.ranges[i], true
}

// Supports reports whether key is served at version.
func (v *Versions) Supports(key, version int16) bool {
	r, ok := v.Lookup(key)
	return ok && version >= r.Min && version <= r.Max
}

// Ranges returns a copy of the table, sorted by key.
func (v *Versions) Ranges() []Range { return slices.Clone(v.ranges) }

// ApiKeys returns the table as ApiVersions response entries.
func (v *Versions) ApiKeys() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, len(v.ranges))
	for i, r := range v.ranges {
		out[i] = kmsg.ApiVersionsResponseApiKey{ApiKey: r.Key, MinVersion: r.Min, MaxVersion: r.Max}
	}
	return out
}
