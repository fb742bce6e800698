package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// kafkajsModules installs kafkajs (npm, into the user cache) on first use
// and returns its node_modules directory.
func kafkajsModules(t *testing.T, npm string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	prefix := filepath.Join(cache, "onexbus", "kafkajs-"+kafkajsVersion)
	modules := filepath.Join(prefix, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "kafkajs", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", prefix, "kafkajs@"+kafkajsVersion).CombinedOutput()
		if err != nil {
			t.Fatalf("npm install kafkajs@%s: %v\n%s", kafkajsVersion, err, out)
		}
	}
	return modules
}

// TestKafkajsTransactions runs testdata/kafkajs_txn.js: kafkajs aborts a
// transaction of two records (offsets 0-1, abort marker at 2), commits
// one of one record (3, marker at 4) and a consume-process-produce one
// with sendOffsets (5, marker at 6). A read_committed group consumer sees
// only the committed records, at 3 and 5; a read_uncommitted one sees all
// four; the transaction's group offset is 3; the end is 7.
func TestKafkajsTransactions(t *testing.T) {
	out := runKafkajs(t, "testdata/kafkajs_txn.js")
	type seen struct {
		Offset string `json:"offset"`
		Value  string `json:"value"`
	}
	var res struct {
		ReadCommitted   []seen `json:"readCommitted"`
		ReadUncommitted []seen `json:"readUncommitted"`
		EOSOffsets      []struct {
			Partitions []struct {
				Offset string `json:"offset"`
			} `json:"partitions"`
		} `json:"eosOffsets"`
		Ends []struct {
			High string `json:"high"`
		} `json:"ends"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output %s: %v", out, err)
	}
	if got, want := fmt.Sprint(res.ReadCommitted), "[{3 committed-0} {5 committed-1}]"; got != want {
		t.Errorf("read_committed saw %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(res.ReadUncommitted), "[{0 aborted-0} {1 aborted-1} {3 committed-0} {5 committed-1}]"; got != want {
		t.Errorf("read_uncommitted saw %s, want %s", got, want)
	}
	if len(res.EOSOffsets) != 1 || len(res.EOSOffsets[0].Partitions) != 1 || res.EOSOffsets[0].Partitions[0].Offset != "3" {
		t.Errorf("sendOffsets committed %+v, want 3", res.EOSOffsets)
	}
	if len(res.Ends) != 1 || res.Ends[0].High != "7" {
		t.Errorf("end offsets %+v, want 7", res.Ends)
	}
}
