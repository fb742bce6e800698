package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionSettingsApplied: the transactions section reaches the
// broker and the log. With transactions.max_ids 1 a second transactional
// id's InitProducerId is THROTTLING_QUOTA_EXCEEDED, and with
// transactions.max_timeout 10s a transaction.timeout.ms of 11s is
// INVALID_TRANSACTION_TIMEOUT.
func TestTransactionSettingsApplied(t *testing.T) {
	cfg := testConfig(t)
	cfg.TxnMaxIDs = 1
	cfg.TxnMaxTimeout = 10 * time.Second
	r := startDaemon(t, cfg)
	cl := kafkaClient(t, r.d.Addrs().Kafka.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := func(id string, timeoutMs int32) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	for _, tc := range []struct {
		what      string
		id        string
		timeoutMs int32
		want      *kerr.Error
	}{
		{"first id", "a", 10_000, nil},
		{"timeout over transactions.max_timeout", "a", 11_000, kerr.InvalidTransactionTimeout},
		{"second id with transactions.max_ids 1", "b", 10_000, kerr.ThrottlingQuotaExceeded},
		{"the first id again", "a", 10_000, nil},
	} {
		if got := init(tc.id, tc.timeoutMs); (tc.want == nil && got != 0) || (tc.want != nil && got != tc.want.Code) {
			t.Fatalf("%s: %v, want %v", tc.what, kerr.ErrorForCode(got), tc.want)
		}
	}
}
