package broker

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/kbatch"
)

// The transaction coordinator (keys 22 with a transactional id, 24, 25,
// 26, 28, FindCoordinator key type 1). One node and one store make it
// simple: EndTxn writes every partition's marker and the group offsets in
// one store transaction, so there are no PrepareCommit/PrepareAbort
// states and no CONCURRENT_TRANSACTIONS; a transaction is Empty or
// Ongoing. The log keeps what must survive a restart: the transactional
// id's producer id, epoch and timeout (written before InitProducerId
// answers), and per partition the open transactions (with their
// batches), which the log aborts when it opens. So after a crash every
// transaction is Empty, its producer's epoch one higher: the old instance
// is fenced, and it re-initialises.
//
// Fencing: each request carries the producer's id and epoch; an older
// epoch is PRODUCER_FENCED from the versions that know it (InitProducerId
// v4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2, TxnOffsetCommit v3),
// INVALID_PRODUCER_EPOCH before, and always on Produce. A transaction
// older than its transaction.timeout.ms is aborted by the coordinator
// with its epoch bumped, so a late produce or EndTxn of it is fenced.
//
// An end is acknowledged only once durable: EndTxn queues the markers
// and offsets (they go into the next store transaction) and waits for
// them. When that store write fails the transaction is ending: the end
// stays queued in the log, which retries it, and the client gets
// COORDINATOR_NOT_AVAILABLE. A retried EndTxn of the same outcome waits
// for the queued end again and answers success only once it is durable
// (else COORDINATOR_NOT_AVAILABLE again); the other outcome is
// INVALID_TXN_STATE. A new transaction (AddPartitionsToTxn,
// AddOffsetsToTxn) or InitProducerId first waits for it too, and
// answers CONCURRENT_TRANSACTIONS (kgo retries it in place) while it is
// not durable. A restart before it is durable loses the queued end with
// the rest of the unstored log: the log then aborts the transaction at
// Open and bumps the epoch, so the retried EndTxn is fenced, never
// answered committed.
//
// Bounds: the log forgets a transactional id after
// core.TxnLimits.IDExpiry without use and registers at most MaxIDs; a
// new id past that gets THROTTLING_QUOTA_EXCEEDED from InitProducerId
// (retriable: kgo discards the attempt and its next produce or
// BeginTransaction tries again). The coordinator keeps in memory only
// the ids used in the last 10 minutes, and drops a cached id the log
// forgot, so the next InitProducerId starts it over at a new producer id.
//
// Lock order: txnState.mu, then txnCoordinator.mu. A transaction's mu is
// held while its produce batches are queued and while it ends, so a batch
// is never queued after its transaction's marker.

// defaultMaxTxnTimeout is Kafka's transaction.max.timeout.ms.
const defaultMaxTxnTimeout = 15 * time.Minute

// txnIdleForget is how long an Empty transaction's state stays in memory
// (the log keeps its producer id and epoch for ever).
const txnIdleForget = 10 * time.Minute

type txnCoordinator struct {
	s          *Server
	kl         *core.KafkaLog
	maxTimeout time.Duration

	mu    sync.Mutex           // protects byID, byPID
	byID  map[string]*txnState // transactional ids in use
	byPID map[int64]*txnState

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// txnState is one transactional id. Its fields are protected by mu.
type txnState struct {
	mu        sync.Mutex
	id        string
	pid       int64
	epoch     int16
	lastEpoch int16 // the epoch before the last bump, -1: none (a retried InitProducerId)
	timeout   time.Duration

	ongoing bool
	started time.Time
	parts   map[core.TxnPartition]struct{}
	groups  map[string]map[core.TxnPartition]core.CursorCommit // pending TxnOffsetCommits per group

	// ending is a transaction end queued in the log but not yet known
	// durable (its store write failed); endingCommit is its outcome.
	ending       *core.TxnEnding
	endingCommit bool

	ended         bool // a transaction ended durably since the state was loaded
	lastWasCommit bool // how it ended, for EndTxn retries
	lastUse       time.Time
	gone          bool // forgotten from the coordinator's maps: look it up again
}

func newTxnCoordinator(s *Server) *txnCoordinator {
	t := &txnCoordinator{
		s: s, kl: s.kl, maxTimeout: s.cfg.maxTxnTimeout,
		byID: make(map[string]*txnState), byPID: make(map[int64]*txnState),
		stop: make(chan struct{}),
	}
	if t.maxTimeout <= 0 {
		t.maxTimeout = defaultMaxTxnTimeout
	}
	t.wg.Add(1)
	go t.timeouts()
	return t
}

func (t *txnCoordinator) close() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}

// lock returns the state of transactional id id locked, loading it from
// the log; nil when the log has none and create is false.
func (t *txnCoordinator) lock(id string, create bool) *txnState {
	for {
		t.mu.Lock()
		st := t.byID[id]
		if st == nil {
			tp, ok := t.kl.TxnProducer(id)
			if !ok && !create {
				t.mu.Unlock()
				return nil
			}
			st = &txnState{id: id, pid: -1, lastEpoch: -1, lastUse: time.Now()}
			if ok {
				st.pid, st.epoch, st.timeout = tp.ProducerID, tp.Epoch, time.Duration(tp.TimeoutMillis)*time.Millisecond
				t.byPID[st.pid] = st
			}
			t.byID[id] = st
		}
		t.mu.Unlock()
		st.mu.Lock()
		if st.gone {
			st.mu.Unlock()
			continue
		}
		if st.pid >= 0 && !st.ongoing && st.ending == nil {
			if _, ok := t.kl.TxnProducer(id); !ok {
				// The log forgot the id (its expiry): so do we, and the
				// next InitProducerId starts it over.
				t.mu.Lock()
				if t.byPID[st.pid] == st {
					delete(t.byPID, st.pid)
				}
				t.mu.Unlock()
				st.pid, st.epoch, st.lastEpoch, st.ended = -1, 0, -1, false
				if !create {
					t.forgetLocked(st)
					st.mu.Unlock()
					return nil
				}
			}
		}
		return st
	}
}

// forgetLocked drops st from the coordinator's maps; st.mu is held.
func (t *txnCoordinator) forgetLocked(st *txnState) {
	t.mu.Lock()
	if t.byID[st.id] == st {
		delete(t.byID, st.id)
	}
	if st.pid >= 0 && t.byPID[st.pid] == st {
		delete(t.byPID, st.pid)
	}
	t.mu.Unlock()
	st.gone = true
}

// lockPID returns the locked state of the transactional producer pid, or
// nil.
func (t *txnCoordinator) lockPID(pid int64) *txnState {
	t.mu.Lock()
	st := t.byPID[pid]
	t.mu.Unlock()
	if st == nil {
		return nil
	}
	st.mu.Lock()
	if st.gone || st.pid != pid {
		st.mu.Unlock()
		return nil
	}
	return st
}

// setPIDLocked moves st to producer id pid in the index; st.mu is held.
func (t *txnCoordinator) setPIDLocked(st *txnState, pid int64) {
	t.mu.Lock()
	if st.pid >= 0 && t.byPID[st.pid] == st {
		delete(t.byPID, st.pid)
	}
	t.byPID[pid] = st
	t.mu.Unlock()
	st.pid = pid
}

// checkProducer checks a request's producer id and epoch against st:
// INVALID_PRODUCER_ID_MAPPING for another id, the fencing code for
// another epoch (fencedFrom: the first version that knows
// PRODUCER_FENCED).
func checkProducer(st *txnState, pid int64, epoch int16, version, fencedFrom int16) int16 {
	switch {
	case st == nil || st.pid < 0 || pid != st.pid:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != st.epoch:
		return fencedCode(version, fencedFrom)
	}
	return 0
}

func fencedCode(version, fencedFrom int16) int16 {
	if version >= fencedFrom {
		return kerr.ProducerFenced.Code
	}
	return kerr.InvalidProducerEpoch.Code
}

// beginLocked starts st's transaction if it is Empty, once the previous
// end is durable: else it returns CONCURRENT_TRANSACTIONS (the client
// retries) and begins nothing.
func (t *txnCoordinator) beginLocked(ctx context.Context, st *txnState) int16 {
	if err := t.settleLocked(ctx, st); err != nil {
		t.s.log.Warn("kafka: the previous transaction's end is not durable yet", "transactional_id", st.id, "error", err)
		return kerr.ConcurrentTransactions.Code
	}
	st.lastUse = time.Now()
	t.kl.TouchTxnProducer(st.id)
	if st.ongoing {
		return 0
	}
	st.ongoing = true
	st.started = time.Now()
	st.parts = make(map[core.TxnPartition]struct{})
	st.groups = nil
	return 0
}

// endLocked ends st's transaction: markers on its partitions and, on a
// commit, its pending group offsets, in one store transaction, durable
// when it returns nil. When the log cannot queue the end the transaction
// stays ongoing; once queued it is no longer ongoing, and until the end
// is durable it is ending (settleLocked finishes it).
func (t *txnCoordinator) endLocked(ctx context.Context, st *txnState, commit bool, epoch int16) error {
	parts := make([]core.TxnPartition, 0, len(st.parts))
	for p := range st.parts {
		parts = append(parts, p)
	}
	end := core.TxnEnd{ProducerID: st.pid, Epoch: epoch, Commit: commit, Partitions: parts}
	if commit && len(st.groups) > 0 {
		end.Offsets = make(map[string][]core.CursorCommit, len(st.groups))
		for g, offs := range st.groups {
			for _, c := range offs {
				end.Offsets[g] = append(end.Offsets[g], c)
			}
		}
	}
	e, err := t.kl.QueueTransactionEnd(end)
	if err != nil {
		return err
	}
	st.ongoing, st.parts, st.groups = false, nil, nil
	st.ending, st.endingCommit = e, commit
	st.lastUse = time.Now()
	return t.settleLocked(ctx, st)
}

// settleLocked waits for st's queued end to be durable, and then records
// it as the last transaction's outcome. With no end queued it returns
// nil at once; on an error the end stays queued (call it again).
func (t *txnCoordinator) settleLocked(ctx context.Context, st *txnState) error {
	if st.ending == nil {
		return nil
	}
	if err := st.ending.Wait(ctx); err != nil {
		return err
	}
	if err := st.ending.Dropped(); err != nil {
		// The markers are durable; offsets of partitions deleted
		// meanwhile are not (Kafka drops them as well).
		t.s.log.Warn("kafka: transaction committed without some of its offsets", "transactional_id", st.id, "error", err)
	}
	st.ended, st.lastWasCommit = true, st.endingCommit
	st.ending = nil
	return nil
}

// bumpLocked moves st to the next epoch, or to a new producer id when the
// epoch is exhausted, and stores it before returning.
func (t *txnCoordinator) bumpLocked(ctx context.Context, st *txnState) error {
	pid, epoch := st.pid, st.epoch+1
	if st.pid < 0 || st.epoch >= math.MaxInt16-1 {
		id, err := t.kl.AllocateProducerID(ctx)
		if err != nil {
			return err
		}
		pid, epoch = id, 0
	}
	tp := core.TxnProducer{ProducerID: pid, Epoch: epoch, TimeoutMillis: int32(st.timeout / time.Millisecond)}
	if err := t.kl.SetTxnProducer(ctx, st.id, tp); err != nil {
		return err
	}
	if st.pid == pid {
		st.lastEpoch = st.epoch
	} else {
		st.lastEpoch = -1
		t.setPIDLocked(st, pid)
	}
	st.epoch = epoch
	return nil
}

// timeouts aborts transactions older than their timeout, with an epoch
// bump, and forgets idle Empty ones.
func (t *txnCoordinator) timeouts() {
	defer t.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		states := make([]*txnState, 0, len(t.byID))
		for _, st := range t.byID {
			states = append(states, st)
		}
		t.mu.Unlock()
		now := time.Now()
		for _, st := range states {
			if !st.mu.TryLock() {
				continue // busy: it is being used, look again next tick
			}
			switch {
			case st.gone:
			case st.ending != nil:
				// An end whose store write failed: the log retries it;
				// record it once durable, so the state can be forgotten.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = t.settleLocked(ctx, st) // not durable yet: look again next tick
				cancel()
			case st.ongoing && now.Sub(st.started) > st.timeout:
				t.expireLocked(st)
			case !st.ongoing && now.Sub(st.lastUse) > txnIdleForget:
				t.forgetLocked(st)
			}
			st.mu.Unlock()
		}
	}
}

// expireLocked aborts st's transaction on its timeout: the epoch goes up
// first, so that the markers and every later request of the old epoch
// are fenced.
func (t *txnCoordinator) expireLocked(st *txnState) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old := st.epoch
	if err := t.bumpLocked(ctx, st); err != nil {
		t.s.log.Warn("kafka: transaction timeout: cannot bump the epoch; retrying", "transactional_id", st.id, "error", err)
		return
	}
	t.s.log.Info("kafka: aborting a transaction past its timeout", "transactional_id", st.id, "producer", st.pid, "epoch", old, "timeout", st.timeout)
	if err := t.endLocked(ctx, st, false, st.epoch); err != nil {
		t.s.log.Warn("kafka: transaction timeout abort", "transactional_id", st.id, "error", err)
	}
}

// unstable reports whether a transaction has offsets pending for group
// on the partition (OffsetFetch's RequireStable).
func (t *txnCoordinator) unstable(group string, tp core.TxnPartition) bool {
	t.mu.Lock()
	states := make([]*txnState, 0, len(t.byID))
	for _, st := range t.byID {
		states = append(states, st)
	}
	t.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		_, ok := st.groups[group][tp]
		st.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// addGroupLocked adds group to st's transaction (AddOffsetsToTxn).
func (st *txnState) addGroupLocked(group string) {
	if st.groups == nil {
		st.groups = make(map[string]map[core.TxnPartition]core.CursorCommit)
	}
	if st.groups[group] == nil {
		st.groups[group] = make(map[core.TxnPartition]core.CursorCommit)
	}
}

// admitProduce checks a produce batch against its transaction: a
// transactional batch must come from a transactional producer at its
// current epoch (else INVALID_PRODUCER_EPOCH; an unknown one is
// INVALID_PRODUCER_ID_MAPPING), in a request naming its transactional
// id, for a partition added to the ongoing transaction (else
// INVALID_TXN_STATE); a request with a transactional id carries only
// transactional batches. On success the transaction is locked until
// release is called, once the batch is queued.
func (t *txnCoordinator) admitProduce(txnID *string, h *kbatch.Header, topic string, part int32) (release func(), code *kerr.Error) {
	if !h.Transactional() {
		return nil, kerr.InvalidTxnState
	}
	st := t.lockPID(h.ProducerID)
	if st == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	switch {
	case txnID == nil || *txnID != st.id:
		code = kerr.InvalidTxnState
	case h.ProducerEpoch != st.epoch:
		code = kerr.InvalidProducerEpoch
	case !st.ongoing:
		code = kerr.InvalidTxnState
	default:
		if _, ok := st.parts[core.TxnPartition{Topic: topic, Part: part}]; !ok {
			code = kerr.InvalidTxnState
		}
	}
	if code != nil {
		st.mu.Unlock()
		return nil, code
	}
	st.lastUse = time.Now()
	return st.mu.Unlock, nil
}

// abortedIn lists the aborted transactions with records in [from, to)
// for a read_committed Fetch (none when the log cannot say: the client
// then gets the records, as after a retention of the index).
func (s *Server) abortedIn(topic string, part int32, from, to int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	ab, err := s.kl.AbortedTransactions(topic, part, from, to)
	if err != nil {
		s.log.Warn("kafka: aborted transactions of a fetch", "topic", topic, "partition", part, "error", err)
		return out
	}
	for _, a := range ab {
		e := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		e.ProducerID, e.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, e)
	}
	return out
}

// txnFindCoordinator answers FindCoordinator for transactional ids: this
// broker.
func (s *Server) txnFindCoordinator(req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	resp.NodeID, resp.Host, resp.Port = s.cfg.nodeID, host, port
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = nil
	}
	for _, key := range keys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.NodeID, co.Host, co.Port = key, s.cfg.nodeID, host, port
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp
}

// offsetFetchStable serves OffsetFetch through the group coordinator and,
// for a v7 request with RequireStable, answers UNSTABLE_OFFSET_COMMIT on
// the partitions where a transaction has offsets pending for the group
// (the client retries until the transaction ends).
func (s *Server) offsetFetchStable(c *conn, cc *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	if !req.RequireStable || req.Version < 7 {
		s.groups.handle(cc, req, reply)
		return
	}
	s.groups.handle(cc, req, func(r kmsg.Response) {
		if resp, ok := r.(*kmsg.OffsetFetchResponse); ok && req.Version < 8 {
			for i := range resp.Topics {
				t := &resp.Topics[i]
				for j := range t.Partitions {
					p := &t.Partitions[j]
					if p.ErrorCode == 0 && s.txns.unstable(req.Group, core.TxnPartition{Topic: t.Topic, Part: p.Partition}) {
						p.ErrorCode = kerr.UnstableOffsetCommit.Code
						p.Offset = -1
					}
				}
			}
		}
		reply(r)
	})
}
