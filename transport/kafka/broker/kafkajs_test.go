package broker

import (
	"context"
	"encoding/json"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"
)

// kafkajsVersion is the kafkajs release the smoke script runs (npm).
const kafkajsVersion = "2.2.4"

// TestKafkajs runs testdata/kafkajs_smoke.js (kafkajs 2.2.4, installed
// with npm into the user cache on first use) against the broker: admin
// createTopics and metadata, idempotent acks=all produce with headers, a
// group consumer from the beginning, and the group's committed offsets.
func TestKafkajs(t *testing.T) {
	out := runKafkajs(t, "testdata/kafkajs_smoke.js")
	var res struct {
		Created    bool `json:"created"`
		Partitions int  `json:"partitions"`
		Sent       []struct {
			ErrorCode  int    `json:"errorCode"`
			BaseOffset string `json:"baseOffset"`
			Partition  int32  `json:"partition"`
		} `json:"sent"`
		Seen []struct {
			Partition int32             `json:"partition"`
			Offset    string            `json:"offset"`
			Value     string            `json:"value"`
			Headers   map[string]string `json:"headers"`
		} `json:"seen"`
		Offsets []struct {
			Partitions []struct {
				Partition int32  `json:"partition"`
				Offset    string `json:"offset"`
			} `json:"partitions"`
		} `json:"offsets"`
		Groups []struct {
			GroupID string `json:"groupId"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output %s: %v", out, err)
	}
	if !res.Created || res.Partitions != 2 || len(res.Sent) != 10 || len(res.Seen) != 10 {
		t.Fatalf("kafkajs saw %+v", res)
	}
	ends := map[int32]int64{}
	for _, s := range res.Sent {
		off, _ := strconv.ParseInt(s.BaseOffset, 10, 64)
		if s.ErrorCode != 0 || off < 0 {
			t.Fatalf("produce result %+v", s)
		}
		ends[s.Partition] = max(ends[s.Partition], off+1)
	}
	var values []string
	for _, m := range res.Seen {
		values = append(values, m.Value)
		if m.Headers["correlation_id"] == "" || m.Headers["x-n"] == "" || "v"+m.Headers["x-n"] != m.Value {
			t.Fatalf("headers did not round-trip: %+v", m)
		}
	}
	sort.Strings(values)
	if values[0] != "v0" || values[9] != "v9" {
		t.Fatalf("values %v", values)
	}
	for _, p := range res.Offsets[0].Partitions {
		want, ok := ends[p.Partition]
		if !ok {
			want = -1 // nothing produced there, nothing committed
		}
		if off, _ := strconv.ParseInt(p.Offset, 10, 64); off != want {
			t.Fatalf("committed offset of partition %d: %s, want %d", p.Partition, p.Offset, want)
		}
	}
	found := false
	for _, g := range res.Groups {
		found = found || g.GroupID == "kafkajs-group"
	}
	if !found {
		t.Fatalf("ListGroups %+v has no kafkajs-group", res.Groups)
	}
}

// runKafkajs runs a kafkajs script from testdata against a fresh broker
// (kafkajs installed with npm into the user cache on first use) and
// returns its standard output; it fails the test when node or npm are
// missing under CI=true or the script fails, and skips with -short.
func runKafkajs(t *testing.T, script string) []byte {
	t.Helper()
	node := needTool(t, "node")
	npm := needTool(t, "npm")
	if testing.Short() {
		t.Skip("installs kafkajs with npm; skipped with -short")
	}
	modules := kafkajsModules(t, npm)
	tb := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, script, tb.addr, modules).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kafkajs script %s: %v\n%s\n%s", script, err, out, stderr)
	}
	return out
}
