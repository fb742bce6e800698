package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// txnACLBroker is a broker with SASL and ACLs for the transactional-id
// tests, with topics orders.t (2 partitions) and secret:
//
//	etl      write on transactional ids etl.*, read and write on orders.*,
//	         read on groups eos.*
//	watcher  describe on every transactional id, write on orders.*
//	idem     idempotent-write on the cluster, nothing else
//	nobody   read on orders.*
//	ops      admin on every topic and on the cluster
//	auditor  describe on every transactional id, nothing else
//	bob      write on orders.* (TestTxnACLAdminKadm gives him an id)
func txnACLBroker(t *testing.T) (*testBroker, *auth.Store) {
	t.Helper()
	store := auth.NewStore()
	for _, u := range []string{"etl", "watcher", "idem", "nobody", "ops", "bob", "auditor"} {
		if err := store.AddUser(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	ops := func(o ...auth.Operation) []auth.Operation { return o }
	if err := store.SetRules([]auth.Rule{
		{Principal: "etl", Resource: auth.ResourceTransactionalID, Pattern: "etl.*", Operations: ops(auth.OpWrite)},
		{Principal: "etl", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: ops(auth.OpRead, auth.OpWrite)},
		{Principal: "etl", Resource: auth.ResourceGroup, Pattern: "eos.*", Operations: ops(auth.OpRead)},
		{Principal: "watcher", Resource: auth.ResourceTransactionalID, Pattern: "**", Operations: ops(auth.OpDescribe)},
		{Principal: "watcher", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: ops(auth.OpWrite)},
		{Principal: "idem", Resource: auth.ResourceCluster, Operations: ops(auth.OpIdempotentWrite)},
		{Principal: "nobody", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: ops(auth.OpRead)},
		{Principal: "ops", Resource: auth.ResourceTopic, Pattern: "**", Operations: ops(auth.OpAdmin)},
		{Principal: "ops", Resource: auth.ResourceCluster, Operations: ops(auth.OpAdmin)},
		{Principal: "bob", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: ops(auth.OpWrite)},
		{Principal: "auditor", Resource: auth.ResourceTransactionalID, Pattern: "**", Operations: ops(auth.OpDescribe)},
	}); err != nil {
		t.Fatal(err)
	}
	a, err := NewStoreAuthenticator(store, true)
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, WithSASL(a), WithACL(store))
	rc := rawAs(t, tb.addr, "ops")
	for _, topic := range []string{"orders.t", "secret"} {
		if r := rc.do(createTopicsReq(topic, 2, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(r.Topics[0].ErrorCode))
		}
	}
	return tb, store
}

// TestTxnACLKgo: a kgo transactional producer needs describe (to find
// its coordinator) and write on its transactional id, as with Kafka, and
// an idempotent one idempotent-write on the cluster or write on some
// topic; the principal with the rights commits.
func TestTxnACLKgo(t *testing.T) {
	tb, _ := txnACLBroker(t)
	ctx := testCtx(t)
	transact := func(user, id string) error {
		cl := tb.as(t, user, kgo.TransactionalID(id))
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders.t", Value: []byte(user)}).FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	t.Run("write on the id commits", func(t *testing.T) {
		if err := transact("etl", "etl.app"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("describe only: InitProducerId refused", func(t *testing.T) {
		if err := transact("watcher", "etl.app"); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Fatalf("err = %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("no right on the id: FindCoordinator refused", func(t *testing.T) {
		if err := transact("nobody", "etl.app"); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Fatalf("err = %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("write on another id", func(t *testing.T) {
		if err := transact("etl", "other.app"); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Fatalf("err = %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("idempotent producers", func(t *testing.T) {
		produce := func(user string) error {
			return tb.as(t, user).ProduceSync(ctx, &kgo.Record{Topic: "orders.t", Value: []byte(user)}).FirstErr()
		}
		if err := produce("watcher"); err != nil {
			t.Fatalf("watcher (write on a topic): %v", err)
		}
		if err := produce("nobody"); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("nobody: err = %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		// idempotent-write on the cluster gets a producer id; the topic
		// ACL then refuses the write itself.
		if err := produce("idem"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("idem: err = %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
}

// TestTxnACLCodes: every transactional request checks the transactional
// id before anything else, at the wire, and a refused request changes
// nothing of the transaction its owner goes on with.
func TestTxnACLCodes(t *testing.T) {
	tb, _ := txnACLBroker(t)
	etl, watcher, nobody, idem := rawAs(t, tb.addr, "etl"), rawAs(t, tb.addr, "watcher"), rawAs(t, tb.addr, "nobody"), rawAs(t, tb.addr, "idem")
	const id = "etl.raw"

	t.Run("InitProducerId", func(t *testing.T) {
		codeIs(t, "watcher, describe only", initTxn(t, watcher, id, 60_000, 4).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
		idemInit := func(rc *rawConn) int16 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.SetVersion(4)
			req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = 60_000, -1, -1
			return rc.do(req).(*kmsg.InitProducerIDResponse).ErrorCode
		}
		codeIs(t, "idempotent, nobody", idemInit(nobody), kerr.ClusterAuthorizationFailed)
		codeIs(t, "idempotent, idempotent-write on the cluster", idemInit(idem), nil)
		codeIs(t, "idempotent, write on a topic", idemInit(watcher), nil)
	})
	t.Run("FindCoordinator", func(t *testing.T) {
		find := func(rc *rawConn, version int16, key string) int16 {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.SetVersion(version)
			req.CoordinatorType = 1
			if version < 4 {
				req.CoordinatorKey = key
				return rc.do(req).(*kmsg.FindCoordinatorResponse).ErrorCode
			}
			req.CoordinatorKeys = []string{key}
			resp := rc.do(req).(*kmsg.FindCoordinatorResponse)
			if len(resp.Coordinators) != 1 {
				t.Fatalf("%d coordinators for one key", len(resp.Coordinators))
			}
			return resp.Coordinators[0].ErrorCode
		}
		for _, v := range []int16{3, 4} {
			codeIs(t, "nobody", find(nobody, v, id), kerr.TransactionalIDAuthorizationFailed)
			codeIs(t, "watcher (describe)", find(watcher, v, id), nil)
			codeIs(t, "etl (write implies describe)", find(etl, v, id), nil)
			codeIs(t, "etl, another id", find(etl, v, "other"), kerr.TransactionalIDAuthorizationFailed)
		}
	})

	init := initTxn(t, etl, id, 60_000, 4)
	codeIs(t, "etl init", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch

	t.Run("AddPartitionsToTxn", func(t *testing.T) {
		for _, c := range addParts(t, watcher, id, pid, epoch, 3, "orders.t", 0, 1) {
			codeIs(t, "watcher", c, kerr.TransactionalIDAuthorizationFailed)
		}
		for _, c := range addParts(t, etl, id, pid, epoch, 3, "orders.t", 0) {
			codeIs(t, "etl", c, nil)
		}
	})
	addOffsets := func(rc *rawConn, group string) int16 {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.SetVersion(3)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, group
		return rc.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
	}
	t.Run("AddOffsetsToTxn", func(t *testing.T) {
		codeIs(t, "watcher", addOffsets(watcher, "eos.g"), kerr.TransactionalIDAuthorizationFailed)
		codeIs(t, "etl, a group it may not read", addOffsets(etl, "other"), kerr.GroupAuthorizationFailed)
		codeIs(t, "etl", addOffsets(etl, "eos.g"), nil)
	})
	t.Run("TxnOffsetCommit", func(t *testing.T) {
		commit := func(rc *rawConn) map[string]int16 {
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.SetVersion(3)
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, "eos.g"
			req.Generation = -1
			for _, topic := range []string{"orders.t", "secret"} {
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 0, -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			}
			out := map[string]int16{}
			for _, rt := range rc.do(req).(*kmsg.TxnOffsetCommitResponse).Topics {
				out[rt.Topic] = rt.Partitions[0].ErrorCode
			}
			return out
		}
		for topic, code := range commit(watcher) {
			codeIs(t, "watcher "+topic, code, kerr.TransactionalIDAuthorizationFailed)
		}
		got := commit(etl)
		codeIs(t, "etl orders.t", got["orders.t"], nil)
		codeIs(t, "etl secret (no read on the topic)", got["secret"], kerr.TopicAuthorizationFailed)
	})
	t.Run("Produce", func(t *testing.T) {
		codeIs(t, "watcher", txnProduce(t, watcher, id, "orders.t", 0, txnBatchRaw(t, pid, epoch, 0, "w")).ErrorCode,
			kerr.TransactionalIDAuthorizationFailed)
		codeIs(t, "etl", txnProduce(t, etl, id, "orders.t", 0, txnBatchRaw(t, pid, epoch, 0, "e")).ErrorCode, nil)
	})
	t.Run("EndTxn", func(t *testing.T) {
		codeIs(t, "watcher", endTxn(t, watcher, id, pid, epoch, 3, false), kerr.TransactionalIDAuthorizationFailed)
		codeIs(t, "etl commits", endTxn(t, etl, id, pid, epoch, 3, true), nil)
	})
	// The committed transaction holds etl's record and its offset, none of
	// watcher's: the refused requests changed nothing.
	rf := rawFetchRC(t, etl, "orders.t", 0, 1)
	bases, control := batchBases(t, rf.RecordBatches)
	if len(bases) != 2 || control[0] || !control[1] || rf.LastStableOffset != 2 {
		t.Fatalf("orders.t/0 read_committed: bases %v control %v LSO %d, want one data batch and its marker", bases, control, rf.LastStableOffset)
	}
}

// TestTxnACLAdminKadm: TRANSACTIONAL_ID ACLs are created, described and
// deleted with kadm, and take effect at once on a kgo transactional
// producer.
func TestTxnACLAdminKadm(t *testing.T) {
	tb, store := txnACLBroker(t)
	ctx := testCtx(t)
	admin := kadm.NewClient(tb.as(t, "ops"))
	transact := func() error {
		cl := tb.as(t, "bob", kgo.TransactionalID("bob.tx"))
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders.t", Value: []byte("bob")}).FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if err := transact(); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("before the ACL: %v", err)
	}
	created, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").TransactionalIDs("bob.tx").Operations(kadm.OpWrite, kadm.OpDescribe))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range created {
		if c.Err != nil {
			t.Fatalf("create %v: %v %s", c.Operation, c.Err, c.ErrMessage)
		}
	}
	if err := store.Authorize("bob", auth.ResourceTransactionalID, "bob.tx", auth.OpWrite); err != nil {
		t.Fatalf("store after CreateAcls: %v", err)
	}
	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().TransactionalIDs("bob.tx").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny).Allow().AllowHosts())
	if err != nil {
		t.Fatal(err)
	}
	var ops []kmsg.ACLOperation
	for _, d := range described {
		if d.Err != nil {
			t.Fatalf("describe: %v %s", d.Err, d.ErrMessage)
		}
		for _, a := range d.Described {
			if a.Type != kmsg.ACLResourceTypeTransactionalId || a.Name != "bob.tx" || a.Principal != "User:bob" {
				t.Fatalf("described %+v", a)
			}
			ops = append(ops, a.Operation)
		}
	}
	if len(ops) != 2 {
		t.Fatalf("described operations %v, want WRITE and DESCRIBE", ops)
	}
	if err := transact(); err != nil {
		t.Fatalf("after CreateAcls: %v", err)
	}
	deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:bob").TransactionalIDs("bob.tx").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny).AllowHosts())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range deleted {
		if d.Err != nil {
			t.Fatalf("delete: %v %s", d.Err, d.ErrMessage)
		}
		n += len(d.Deleted)
	}
	if n != 2 {
		t.Fatalf("%d bindings deleted, want 2", n)
	}
	if err := transact(); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("after DeleteAcls: %v", err)
	}
}
