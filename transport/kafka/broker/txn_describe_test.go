package broker

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/onexbus/onexbus/internal/faultstore"
)

// openTxn starts a kgo transaction as id (opts: the connection's
// credentials) and produces one record to each of topic's parts; it
// returns the client, with the transaction left open.
func openTxn(t *testing.T, ctx context.Context, tb *testBroker, id, topic string, parts []int32, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl := tb.client(t, append([]kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(id)}).FirstErr(); err != nil {
			t.Fatalf("%s produces to %s/%d: %v", id, topic, p, err)
		}
	}
	return cl
}

// saslOpts are the credentials of user in txnACLBroker.
func saslOpts(user string) []kgo.Opt {
	return []kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-pw"}.AsMechanism())}
}

func producerIDOf(t *testing.T, ctx context.Context, cl *kgo.Client) int64 {
	t.Helper()
	pid, _, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// listed is ListTransactions' answer as id -> state.
func listed(t *testing.T, ls kadm.ListedTransactions, err error) map[string]string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, l := range ls {
		out[id] = l.State
	}
	return out
}

func sameStates(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for id, s := range want {
		if got[id] != s {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

// TestTxnDescribeKadm: kadm's DescribeProducers, DescribeTransactions and
// ListTransactions against the broker: an open transaction is listed
// Ongoing with its partitions and its producer's first offset, ended ones
// CompleteCommit or CompleteAbort, an id that never began one Empty; the
// state, producer id, duration and id pattern filters select exactly.
func TestTxnDescribeKadm(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	rc := dialRaw(t, tb.addr)
	if r := rc.do(createTopicsReq("dt", 2, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	admin := kadm.NewClient(tb.client(t))
	for _, key := range []int16{61, 65, 66} {
		if _, ok := tb.srv.versions.Lookup(key); !ok {
			t.Fatalf("%s not advertised", kmsg.NameForKey(key))
		}
	}

	idem := tb.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := idem.ProduceSync(ctx, &kgo.Record{Topic: "dt", Partition: 0, Value: []byte("idem")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	open := openTxn(t, ctx, tb, "tx-open", "dt", []int32{0, 1}) // dt/0 offset 1, dt/1 offset 0
	committed := openTxn(t, ctx, tb, "tx-commit", "dt", []int32{0})
	if err := committed.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	aborted := openTxn(t, ctx, tb, "tx-abort", "dt", []int32{1})
	if err := aborted.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	codeIs(t, "init tx-empty", initTxn(t, rc, "tx-empty", 60_000, 4).ErrorCode, nil)
	openPID, commitPID, idemPID := producerIDOf(t, ctx, open), producerIDOf(t, ctx, committed), producerIDOf(t, ctx, idem)

	t.Run("ListTransactions", func(t *testing.T) {
		all := map[string]string{"tx-open": "Ongoing", "tx-commit": "CompleteCommit", "tx-abort": "CompleteAbort", "tx-empty": "Empty"}
		ls, err := admin.ListTransactions(ctx, nil, nil)
		sameStates(t, "all", listed(t, ls, err), all)
		if ls["tx-open"].ProducerID != openPID {
			t.Fatalf("tx-open listed with producer %d, want %d", ls["tx-open"].ProducerID, openPID)
		}
		ls, err = admin.ListTransactions(ctx, nil, []string{"Ongoing", "CompleteAbort"})
		sameStates(t, "states", listed(t, ls, err), map[string]string{"tx-open": "Ongoing", "tx-abort": "CompleteAbort"})
		ls, err = admin.ListTransactions(ctx, []int64{commitPID}, nil)
		sameStates(t, "producer id", listed(t, ls, err), map[string]string{"tx-commit": "CompleteCommit"})
		ls, err = admin.ListTransactionsByTxPattern(ctx, nil, nil, "^tx-(open|empty)$")
		sameStates(t, "pattern", listed(t, ls, err), map[string]string{"tx-open": "Ongoing", "tx-empty": "Empty"})
		if _, err := admin.ListTransactionsByTxPattern(ctx, nil, nil, "tx-("); !errors.Is(err, kerr.InvalidRegularExpression) {
			t.Fatalf("bad pattern: %v, want INVALID_REGULAR_EXPRESSION", err)
		}
		// Unknown states are named back and match nothing; the duration
		// filter keeps transactions running longer than it.
		req := kmsg.NewPtrListTransactionsRequest()
		req.SetVersion(1)
		req.StateFilters = []string{"Bogus"}
		resp := rc.do(req).(*kmsg.ListTransactionsResponse)
		if !slices.Equal(resp.UnknownStateFilters, []string{"Bogus"}) || len(resp.TransactionStates) != 0 {
			t.Fatalf("unknown state filter: %+v", resp)
		}
		for _, c := range []struct {
			ms   int64
			want []string
		}{{-1, []string{"tx-abort", "tx-commit", "tx-empty", "tx-open"}}, {0, []string{"tx-open"}}, {3_600_000, nil}} {
			req := kmsg.NewPtrListTransactionsRequest()
			req.SetVersion(1)
			req.DurationFilterMillis = c.ms
			var got []string
			for _, s := range rc.do(req).(*kmsg.ListTransactionsResponse).TransactionStates {
				got = append(got, s.TransactionalID)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("duration filter %d ms: %v, want %v", c.ms, got, c.want)
			}
		}
	})

	t.Run("DescribeTransactions", func(t *testing.T) {
		ds, err := admin.DescribeTransactions(ctx, "tx-open", "tx-commit", "tx-abort", "tx-empty", "nobody")
		if err != nil {
			t.Fatal(err)
		}
		o := ds["tx-open"]
		if o.Err != nil || o.State != "Ongoing" || o.ProducerID != openPID || o.StartTimestamp <= 0 || o.TimeoutMillis <= 0 {
			t.Fatalf("tx-open: %+v", o)
		}
		if got := o.Topics["dt"]; len(o.Topics) != 1 || len(got) != 2 {
			t.Fatalf("tx-open partitions: %v, want dt 0 and 1", o.Topics)
		}
		for id, state := range map[string]string{"tx-commit": "CompleteCommit", "tx-abort": "CompleteAbort", "tx-empty": "Empty"} {
			if d := ds[id]; d.Err != nil || d.State != state || len(d.Topics) != 0 || d.StartTimestamp != -1 {
				t.Fatalf("%s: %+v, want %s without partitions", id, d, state)
			}
		}
		if d := ds["nobody"]; !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
			t.Fatalf("nobody: %+v, want TRANSACTIONAL_ID_NOT_FOUND", d)
		}
	})

	t.Run("DescribeProducers", func(t *testing.T) {
		dp, err := admin.DescribeProducers(ctx, kadm.TopicsSet{"dt": {0: {}, 1: {}}})
		if err != nil {
			t.Fatal(err)
		}
		p0 := dp["dt"].Partitions[0]
		if p0.Err != nil {
			t.Fatal(p0.Err)
		}
		byPID := map[int64]kadm.DescribedProducer{}
		for _, p := range p0.ActiveProducers {
			byPID[p.ProducerID] = p
		}
		// dt/0: idem at 0, tx-open at 1 (open), tx-commit at 2 (its
		// marker at 3).
		if len(byPID) != 3 {
			t.Fatalf("dt/0 producers %+v, want 3", p0.ActiveProducers)
		}
		if p := byPID[openPID]; p.CurrentTxnStartOffset != 1 || p.LastSequence != 0 || p.LastTimestamp <= 0 {
			t.Fatalf("tx-open on dt/0: %+v, want its transaction from offset 1", p)
		}
		for _, pid := range []int64{commitPID, idemPID} {
			if p := byPID[pid]; p.CurrentTxnStartOffset != -1 || p.LastSequence != 0 {
				t.Fatalf("producer %d on dt/0: %+v, want no open transaction", pid, p)
			}
		}
	})

	t.Run("after the commit", func(t *testing.T) {
		if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		ls, err := admin.ListTransactions(ctx, nil, []string{"Ongoing"})
		sameStates(t, "ongoing after the commit", listed(t, ls, err), map[string]string{})
		dp, err := admin.DescribeProducers(ctx, kadm.TopicsSet{"dt": {1: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range dp["dt"].Partitions[1].ActiveProducers {
			if p.CurrentTxnStartOffset != -1 {
				t.Fatalf("dt/1 producer %+v still has a transaction open", p)
			}
		}
	})
}

// TestTxnDescribeACL: ListTransactions lists only the ids the principal
// may describe, DescribeTransactions refuses the others and hides the
// topics the principal may not describe, DescribeProducers needs read on
// the topic.
func TestTxnDescribeACL(t *testing.T) {
	tb, _ := txnACLBroker(t)
	ctx := testCtx(t)
	open := openTxn(t, ctx, tb, "etl.a", "orders.t", []int32{0}, saslOpts("etl")...)
	defer open.EndTransaction(context.Background(), kgo.TryAbort) //nolint:errcheck // cleanup of a test transaction
	codeIs(t, "init etl.b", initTxn(t, rawAs(t, tb.addr, "etl"), "etl.b", 60_000, 4).ErrorCode, nil)

	t.Run("ListTransactions", func(t *testing.T) {
		for user, want := range map[string]map[string]string{
			"nobody":  {},
			"etl":     {"etl.a": "Ongoing", "etl.b": "Empty"},
			"auditor": {"etl.a": "Ongoing", "etl.b": "Empty"},
		} {
			ls, err := kadm.NewClient(tb.as(t, user)).ListTransactions(ctx, nil, nil)
			sameStates(t, user, listed(t, ls, err), want)
		}
	})
	t.Run("DescribeTransactions", func(t *testing.T) {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{"etl.a"}
		for user, want := range map[string]struct {
			code   *kerr.Error
			topics int
		}{"nobody": {kerr.TransactionalIDAuthorizationFailed, 0}, "auditor": {nil, 0}, "etl": {nil, 1}} {
			ts := rawAs(t, tb.addr, user).do(req).(*kmsg.DescribeTransactionsResponse).TransactionStates
			if len(ts) != 1 {
				t.Fatalf("%s: %d states", user, len(ts))
			}
			codeIs(t, user, ts[0].ErrorCode, want.code)
			if len(ts[0].Topics) != want.topics {
				t.Fatalf("%s sees topics %+v, want %d (describe on orders.t)", user, ts[0].Topics, want.topics)
			}
			if want.code == nil && ts[0].State != "Ongoing" {
				t.Fatalf("%s: state %q", user, ts[0].State)
			}
		}
		if _, err := kadm.NewClient(tb.as(t, "nobody")).DescribeTransactions(ctx, "etl.a"); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Fatalf("kadm as nobody: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("DescribeProducers", func(t *testing.T) {
		for user, want := range map[string]*kerr.Error{"etl": nil, "nobody": nil, "watcher": kerr.TopicAuthorizationFailed} {
			req := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = "orders.t", []int32{0}
			req.Topics = append(req.Topics, rt)
			p := rawAs(t, tb.addr, user).do(req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
			codeIs(t, user, p.ErrorCode, want)
			if want == nil && (len(p.ActiveProducers) != 1 || p.ActiveProducers[0].CurrentTxnStartOffset != 0) {
				t.Fatalf("%s: producers %+v, want etl.a's open transaction at 0", user, p.ActiveProducers)
			}
		}
	})
}

// TestTxnDescribePrepare: an end whose store write failed is queued, not
// durable: the transaction shows PrepareCommit until a retry finds it
// durable, then CompleteCommit.
func TestTxnDescribePrepare(t *testing.T) {
	fb := startFaultBroker(t, filepath.Join(t.TempDir(), "onexbus.db"))
	rc := dialRaw(t, fb.addr)
	if r := rc.do(createTopicsReq("prep", 1, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	a := initTxn(t, rc, "a", 60_000, 4)
	codeIs(t, "init", a.ErrorCode, nil)
	codeIs(t, "add", addParts(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, "prep", 0)[0], nil)
	codeIs(t, "produce", txnProduce(t, rc, "a", "prep", 0, txnBatchRaw(t, a.ProducerID, a.ProducerEpoch, 0, "x")).ErrorCode, nil)
	state := func() string {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{"a"}
		ts := rc.do(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
		codeIs(t, "describe", ts.ErrorCode, nil)
		return ts.State
	}
	listedAs := func(s string) bool {
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters = []string{s}
		return len(rc.do(req).(*kmsg.ListTransactionsResponse).TransactionStates) == 1
	}
	if s := state(); s != "Ongoing" {
		t.Fatalf("before the end: %s", s)
	}
	fb.fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit})
	codeIs(t, "EndTxn with the disk failing", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, true), kerr.CoordinatorNotAvailable)
	if s := state(); s != "PrepareCommit" || !listedAs("PrepareCommit") {
		t.Fatalf("while the end is not durable: %s", s)
	}
	fb.fs.Clear()
	codeIs(t, "the retry once the disk works", endTxn(t, rc, "a", a.ProducerID, a.ProducerEpoch, 3, true), nil)
	if s := state(); s != "CompleteCommit" || !listedAs("CompleteCommit") {
		t.Fatalf("after the durable end: %s", s)
	}
}
