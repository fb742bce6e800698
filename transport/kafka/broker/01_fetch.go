package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
	"github.com/onexbus/onexbus/wal"
)

// handleFetch returns stored batches as they were produced, whole (a
// mid-batch offset gets the batch holding it), at least one batch even
// over MaxBytes (KIP-74), and an empty, non-null record set when there is
// nothing. Below MinBytes it parks until data arrives, MaxWaitMillis
// passes, the connection closes or the server shuts down. Only durable
// records are visible. Under read_committed (IsolationLevel 1) nothing at
// or past the partition's last stable offset is returned, and the
// aborted transactions with records in the range returned are listed
// (the client drops their records and the control batches); the LSO is
// the high watermark while no transaction is open. Fetch sessions are not
// kept: SessionID 0 makes clients send full fetches.
func handleFetch(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.FetchRequest)
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		reply(resp)
		return
	}
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, c.s.cfg.maxWait)
	f := &fetch{c: c, fut: c.current, req: req, reply: reply, deadline: time.Now().Add(wait)}
	f.run()
}

// fetch is one Fetch request, possibly parked.
type fetch struct {
	c        *conn
	fut      *future // the request's place in the response order
	req      *kmsg.FetchRequest
	reply    func(kmsg.Response)
	deadline time.Time
	watch    []core.WatchPos // while parked: the positions to wait on
	// buf holds the record batches of the response being built, from
	// fetchPool; answer hands it to the future, and the writer gives it
	// back once the response is encoded. A read that is not answered
	// (still below MinBytes) is dropped and the next read reuses buf.
	buf *[]byte
}

// answer sends resp, built by the last read, with its batch buffer.
func (f *fetch) answer(resp *kmsg.FetchResponse) {
	f.fut.batches, f.buf = f.buf, nil
	f.reply(resp)
}

// run reads once and either answers or parks the fetch on its future:
// the connection's writer waits for it (wait) when its turn comes.
func (f *fetch) run() {
	resp, n, watch := f.read()
	if n >= int(f.req.MinBytes) || f.req.MaxWaitMillis <= 0 || len(watch) == 0 || !time.Now().Before(f.deadline) {
		f.answer(resp)
		return
	}
	f.watch = watch
	f.c.current.parkFetch(f)
}

// wait runs on the connection's writer, once the responses before the
// fetch are written: it waits for any watched partition to grow, the
// deadline, the connection's end or the server's Close, reads again and
// answers, or waits again while still below MinBytes. It reports false
// when the connection ended first (nobody to answer).
//
// The wait is the writer's, not a goroutine of the fetch's own: the
// writer could send nothing else before this fetch's response anyway
// (responses go in request order), and so the append that wakes the
// fetch hands it straight to the goroutine that builds and writes its
// response, one wake-up instead of two on the consumer's path.
func (f *fetch) wait(w *fetchWake) bool {
	s := f.c.s
	for {
		cancel, err := s.kl.Watch(f.watch, w.fire)
		if err != nil {
			// A partition went away or the bus is closing: answer now.
			resp, _, _ := f.read()
			f.answer(resp)
			return true
		}
		remove := s.fetches.add(w.fire)
		woken := w.sleep(f.deadline, f.c.done)
		remove()
		cancel()
		if !woken {
			return false
		}
		resp, n, watch := f.read()
		if n >= int(f.req.MinBytes) || len(watch) == 0 || !time.Now().Before(f.deadline) || s.isClosing() {
			f.answer(resp)
			return true
		}
		f.watch = watch
	}
}

// fetchWake is a connection writer's means of waiting for its parked
// fetches: one kick channel and one timer for the writer's life instead
// of a channel, a sync.Once and a timer per wait. A kick left over from an
// earlier wait (a watch that fired as it was cancelled) only makes the
// next wait read once more before it waits again.
type fetchWake struct {
	kick  chan struct{} // buffer 1: many fires merge into one
	fire  func()        // sends to kick without blocking
	timer *time.Timer
}

func newFetchWake() *fetchWake {
	w := &fetchWake{kick: make(chan struct{}, 1)}
	w.fire = func() {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return w
}

// sleep waits for a kick or the deadline (true) or for done (false).
func (w *fetchWake) sleep(deadline time.Time, done <-chan struct{}) bool {
	d := time.Until(deadline)
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	defer w.timer.Stop()
	select {
	case <-w.kick:
		return true
	case <-w.timer.C:
		return true
	case <-done:
		return false
	}
}

// read builds a response from what is visible now. It returns the bytes
// of records in it and the positions to watch if it must wait.
func (f *fetch) read() (*kmsg.FetchResponse, int, []core.WatchPos) {
	s := f.c.s
	req := f.req
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	budget := int(req.MaxBytes)
	if req.Version < 3 || budget <= 0 {
		budget = 1 << 31
	}
	total := 0
	if f.buf == nil {
		f.buf = fetchPool.get(0)
	}
	// dst holds every partition's batches back to back; each partition's
	// RecordBatches is its own capped slice of it.
	dst := (*f.buf)[:0]
	defer func() { *f.buf = dst }()
	var watch []core.WatchPos
	for _, rt := range req.Topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		if req.Version >= 13 {
			name, _ = s.kl.TopicByID(rt.TopicID)
		}
		_, known := s.kl.Topic(name)
		for _, rp := range rt.Partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rp.Partition
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = -1, -1, -1
			p.PreferredReadReplica = -1
			p.RecordBatches = []byte{}
			fail := func(e *kerr.Error) {
				p.ErrorCode = e.Code
				t.Partitions = append(t.Partitions, p)
			}
			if !known {
				if req.Version >= 13 {
					fail(kerr.UnknownTopicID)
				} else {
					fail(kerr.UnknownTopicOrPartition)
				}
				continue
			}
			if s.denied(f.c, auth.ResourceTopic, name, auth.OpRead) {
				fail(kerr.TopicAuthorizationFailed)
				continue
			}
			if rp.CurrentLeaderEpoch > 0 {
				fail(kerr.UnknownLeaderEpoch)
				continue
			}
			start, end, err := s.kl.Offsets(name, rp.Partition)
			if err != nil {
				if errors.Is(err, core.ErrClosed) {
					fail(kerr.NotLeaderForPartition)
				} else {
					fail(kerr.UnknownTopicOrPartition)
				}
				continue
			}
			committed := req.IsolationLevel == 1
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = end, end, start
			if committed {
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				if lso, err := s.kl.LastStableOffset(name, rp.Partition); err == nil {
					p.LastStableOffset = min(lso, end)
				}
			}
			if rp.FetchOffset < start || rp.FetchOffset > end {
				fail(kerr.OffsetOutOfRange)
				continue
			}
			if rp.FetchOffset < end && (total == 0 || total < budget) {
				limit := min(int(rp.PartitionMaxBytes), budget-total)
				if limit <= 0 {
					limit = 1 // at least one batch (KIP-74)
				}
				at := len(dst)
				b, next, err := s.kl.ReadBatchesIsolated(f.c.ctx, name, rp.Partition, rp.FetchOffset, limit, dst, committed)
				if err != nil {
					var ce *wal.CorruptError
					if errors.As(err, &ce) {
						s.log.Error("kafka: fetch hit a damaged batch", "topic", name, "partition", rp.Partition,
							"offset", ce.Offset, "readable_from", ce.Next, "reason", ce.Reason)
					}
					fail(kerr.KafkaStorageError)
					continue
				}
				// Only the response's first batch may exceed MaxBytes.
				if got := len(b) - at; got > 0 && (total == 0 || total+got <= budget) {
					p.RecordBatches = b[at:len(b):len(b)]
					total += got
					dst = b
					if committed && next > rp.FetchOffset {
						p.AbortedTransactions = s.abortedIn(name, rp.Partition, rp.FetchOffset, next)
					}
				}
			}
			watch = append(watch, core.WatchPos{Topic: name, Part: rp.Partition, After: max(end, rp.FetchOffset)})
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, total, watch
}
