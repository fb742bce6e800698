package crash_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/internal/checker"
)

// The workload's shape: kafkaProducers kgo clients and httpProducers HTTP
// clients publish to workTopic, each under its own keysPerProducer keys,
// and one Kafka consumer group consumes it with synchronous commits.
const (
	workTopic       = "onex.evt.crash.workload.v1"
	workGroup       = "crash-kafka"
	kafkaProducers  = 2
	httpProducers   = 1
	keysPerProducer = 8
	maxInFlight     = 64
)

// workload is the load of one daemon run; its history spans every run.
type workload struct {
	// pace is the pause between two publishes of one producer (0: as
	// fast as it goes); long runs use it to keep each check short.
	pace  time.Duration
	h     *checker.History
	lat   *latencies
	acked atomic.Int64
}

// latencies keeps publish latencies for a p99 per sampling period.
type latencies struct {
	mu sync.Mutex // protects d
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the p99 of the latencies since the last take, and their count.
func (l *latencies) take() (time.Duration, int) {
	l.mu.Lock()
	d := l.d
	l.d = nil
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[(len(d)*99)/100], len(d)
}

// run starts the producers and the consumer against d; stop ends them
// (after the daemon was killed or before it is stopped) and returns once
// every goroutine has exited and every outcome is in the history.
func (w *workload) run(t *testing.T, d *daemon, cycle int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for p := range kafkaProducers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(d.kafka), kgo.DefaultProduceTopic(workTopic),
			kgo.AllowAutoTopicCreation(), kgo.MaxBufferedRecords(maxInFlight))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		wg.Go(func() { w.kafkaProducer(ctx, cl, fmt.Sprintf("kafka-%d", p), cycle) })
	}
	for p := range httpProducers {
		wg.Go(func() { w.httpProducer(ctx, d.http, fmt.Sprintf("http-%d", p), cycle) })
	}
	consumer := w.consumer(t, d, fmt.Sprintf("c%d", cycle))
	wg.Go(func() { consumer.loop(ctx, func() bool { return false }) })
	return func() {
		cancel()
		for _, cl := range clients {
			cl.Close() // fails what is still buffered: never acknowledged
		}
		consumer.cl.Close()
		wg.Wait()
	}
}

// kafkaProducer produces until ctx ends, pipelining up to maxInFlight
// records; each outcome is recorded in the promise.
func (w *workload) kafkaProducer(ctx context.Context, cl *kgo.Client, name string, cycle int) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for i := 0; ctx.Err() == nil; i++ {
		w.wait(ctx)
		key := fmt.Sprintf("%s/k%d", name, i%keysPerProducer)
		value := fmt.Sprintf("%s/%d/%d", name, cycle, i)
		w.h.Invoke(name, workTopic, key, value)
		began := time.Now()
		inflight.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value)}, func(r *kgo.Record, err error) {
			defer inflight.Done()
			if err != nil {
				w.h.Fail(name, workTopic, key, value, err)
				return
			}
			w.lat.add(time.Since(began))
			w.acked.Add(1)
			w.h.Ack(name, workTopic, r.Partition, r.Offset, key, value)
		})
	}
}

// wait paces a producer.
func (w *workload) wait(ctx context.Context) {
	if w.pace <= 0 {
		return
	}
	t := time.NewTimer(w.pace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// httpProducer publishes one raw message at a time over the HTTP API.
func (w *workload) httpProducer(ctx context.Context, addr, name string, cycle int) {
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + addr + "/v1/topics/" + workTopic + "/messages"
	for i := 0; ctx.Err() == nil; i++ {
		w.wait(ctx)
		key := fmt.Sprintf("%s/k%d", name, i%keysPerProducer)
		value := fmt.Sprintf("%s/%d/%d", name, cycle, i)
		w.h.Invoke(name, workTopic, key, value)
		began := time.Now()
		res, err := w.httpPublish(ctx, client, url, key, value)
		if err != nil {
			w.h.Fail(name, workTopic, key, value, err)
			if ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond) // the daemon is down: do not spin
			}
			continue
		}
		w.lat.add(time.Since(began))
		w.acked.Add(1)
		w.h.Ack(name, workTopic, res.Partition, res.Offset, key, value)
	}
}

type publishResult struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

func (w *workload) httpPublish(ctx context.Context, client *http.Client, url, key, value string) (publishResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(value))
	if err != nil {
		return publishResult{}, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Onex-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return publishResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return publishResult{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return publishResult{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	var r publishResult
	if err := json.Unmarshal(body, &r); err != nil {
		return publishResult{}, fmt.Errorf("decode %s: %w", body, err)
	}
	return r, nil
}

// consumer is one Kafka group member; each assignment starts a new
// session in the history.
type consumer struct {
	w       *workload
	cl      *kgo.Client
	name    string
	gen     atomic.Int32
	mu      sync.Mutex // protects cursors
	cursors map[int32]int64
}

func (w *workload) consumer(t *testing.T, d *daemon, name string) *consumer {
	c := &consumer{w: w, name: name, cursors: map[int32]int64{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.kafka), kgo.ConsumerGroup(workGroup), kgo.ConsumeTopics(workTopic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.AllowAutoTopicCreation(),
		// Static membership: the group (members included) survives a
		// restart, as in Kafka; a new run's member takes the killed one's
		// place at once instead of waiting out its session.
		kgo.InstanceID("crash-consumer"), kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(6*time.Second),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { c.gen.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	c.cl = cl
	return c
}

// loop polls, records every delivery, commits synchronously and records
// each commit that succeeded, until ctx ends or done reports true.
func (c *consumer) loop(ctx context.Context, done func() bool) {
	for ctx.Err() == nil && !done() {
		fs := c.cl.PollFetches(ctx)
		if fs.IsClientClosed() {
			return
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		session := fmt.Sprintf("%s-g%d", c.name, c.gen.Load())
		for _, r := range recs {
			c.w.h.Deliver(session, workGroup, r.Topic, r.Partition, r.Offset, string(r.Key), string(r.Value))
		}
		if err := c.cl.CommitRecords(ctx, recs...); err != nil {
			continue
		}
		next := map[int32]int64{}
		for _, r := range recs {
			next[r.Partition] = r.Offset + 1
		}
		c.mu.Lock()
		for p, off := range next {
			c.w.h.Commit(workGroup, workTopic, p, off)
			c.cursors[p] = off
		}
		c.mu.Unlock()
	}
}

// finalRead reads every partition of the topic from its start to its end
// and the group's committed offsets into the history (after ClearFinal),
// and returns the end offsets.
func finalRead(t *testing.T, h *checker.History, d *daemon) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, workTopic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	starts, err := adm.ListStartOffsets(ctx, workTopic)
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	h.ClearFinal()
	endOf, startOf := map[int32]int64{}, map[int32]int64{}
	consume := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		endOf[o.Partition] = o.Offset
		s, _ := starts.Lookup(workTopic, o.Partition)
		startOf[o.Partition] = s.Offset
		consume[o.Partition] = kgo.NewOffset().At(s.Offset)
	})
	byPart := map[int32][]checker.Record{}
	total, want := 0, int64(0)
	for p, e := range endOf {
		want += e - startOf[p]
	}
	if want > 0 {
		rd, err := kgo.NewClient(kgo.SeedBrokers(d.kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{workTopic: consume}))
		if err != nil {
			t.Fatal(err)
		}
		for int64(total) < want {
			fs := rd.PollFetches(ctx)
			if ctx.Err() != nil {
				rd.Close()
				t.Fatalf("final read: %d of %d records: %v", total, want, ctx.Err())
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset >= startOf[r.Partition] && r.Offset < endOf[r.Partition] {
					byPart[r.Partition] = append(byPart[r.Partition], checker.Record{Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)})
					total++
				}
			})
		}
		rd.Close()
	}
	for p := range endOf {
		h.FinalFrom(workTopic, p, startOf[p], byPart[p])
	}
	committed, err := adm.FetchOffsets(ctx, workGroup)
	if err == nil {
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.Topic == workTopic && o.At >= 0 {
				h.Commit(workGroup, o.Topic, o.Partition, o.At)
			}
		})
	}
	return endOf
}

// committedOffsets returns the group's committed offsets of the topic.
func committedOffsets(t *testing.T, d *daemon) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int32]int64{}
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, workGroup)
	if err != nil {
		return out
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == workTopic {
			out[o.Partition] = o.At
		}
	})
	return out
}
