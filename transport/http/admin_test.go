package http_test

import (
	"context"
	"errors"
	"fmt"
	stdhttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/testutil"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

func TestTopicsAdmin(t *testing.T) {
	e := newEnv(t, nil)
	var d httpapi.TopicDetail
	e.do("create-topic", "POST", "/v1/topics", map[string]any{"name": "onex.evt.billing.paid.v1", "partitions": 3,
		"retention": map[string]any{"max_messages": 100, "max_age": "24h"}}).want(t, stdhttp.StatusCreated).decode(t, &d)
	if d.Partitions != 3 || d.Category != "EVENT" || d.Retention.MaxMessages != 100 || d.Retention.MaxAge != "24h0m0s" || len(d.PartitionSet) != 3 {
		t.Fatalf("created %+v", d)
	}
	e.do("create-topic", "POST", "/v1/topics", map[string]any{"name": "onex.evt.billing.paid.v1"}).want(t, stdhttp.StatusOK)
	e.do("create-topic", "POST", "/v1/topics", map[string]any{"name": "bad name"}).want(t, 400).problem(t)
	for i := range 5 {
		e.publish(fmt.Sprintf("t.%d", i), "", "x")
	}
	e.publish("t.1", "", "y")
	var page httpapi.TopicList
	r := e.do("list-topics", "GET", "/v1/topics?page_size=2&pattern=t.*", nil).want(t, 200)
	r.decode(t, &page)
	if len(page.Topics) != 2 || page.Topics[0].Name != "t.0" || page.Topics[1].Name != "t.1" || page.Topics[1].Messages != 2 ||
		page.NextPageToken == "" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
		t.Fatalf("page 1 %s (Link %q)", r.body, r.header.Get("Link"))
	}
	var names []string
	for tok := ""; ; {
		var p httpapi.TopicList
		e.do("list-topics", "GET", "/v1/topics?page_size=2&pattern=t.*&page_token="+tok, nil).want(t, 200).decode(t, &p)
		for _, x := range p.Topics {
			names = append(names, x.Name)
		}
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if strings.Join(names, ",") != "t.0,t.1,t.2,t.3,t.4" {
		t.Fatalf("paged %v", names)
	}
	e.do("get-topic", "GET", "/v1/topics/t.1", nil).want(t, 200).decode(t, &d)
	if d.PartitionSet[0].EndOffset != 2 || d.PartitionSet[0].LastAppend == nil || d.PartitionSet[0].Bytes <= 0 {
		t.Fatalf("describe %+v", d.PartitionSet)
	}
	e.do("get-topic", "GET", "/v1/topics/none", nil).want(t, 404).problem(t)
	e.do("list-topics", "GET", "/v1/topics?page_token=!!!", nil).want(t, 400)
}

// Lag in messages and in seconds comes from the committed offsets and
// the stored timestamps: a stalled group's lag grows with the age of its
// oldest unconsumed message.
func TestGroupLagAndSeek(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 5 {
		m := &core.Message{Topic: "lag", Value: []byte(fmt.Sprint(i)), Timestamp: time.Now().Add(-time.Hour + time.Duration(i)*time.Minute)}
		if _, err := e.bus.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	durable, err := e.bus.CommitGroupOffsets("stalled", []core.GroupOffset{{Topic: "lag", Partition: 0, Offset: 2, LeaderEpoch: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := durable(context.Background()); err != nil {
		t.Fatal(err)
	}
	var lag httpapi.LagSummary
	e.do("group-lag", "GET", "/v1/groups/stalled/lag", nil).want(t, 200).decode(t, &lag)
	// The oldest unconsumed message (offset 2) is 58 minutes old.
	if lag.TotalLag != 3 || lag.MaxLag != 3 || lag.MaxLagSeconds < 57*60 || lag.MaxLagSeconds > 59*60 || len(lag.Topics) != 1 {
		t.Fatalf("lag %+v", lag)
	}
	var groups httpapi.GroupList
	e.do("list-groups", "GET", "/v1/groups", nil).want(t, 200).decode(t, &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Name != "stalled" || groups.Groups[0].State != "Empty" {
		t.Fatalf("groups %+v", groups)
	}
	e.do("group-lag", "GET", "/v1/groups/none/lag", nil).want(t, 404).problem(t)

	var seek httpapi.SeekResult
	e.do("seek-group", "POST", "/v1/groups/stalled/offsets:seek", map[string]any{"topic": "lag", "to": "latest", "dry_run": true}).
		want(t, 200).decode(t, &seek)
	if !seek.DryRun || len(seek.Partitions) != 1 || seek.Partitions[0].From != 2 || seek.Partitions[0].To != 5 || seek.Partitions[0].Skipped != 3 {
		t.Fatalf("dry run %+v", seek)
	}
	if off, _, _ := e.bus.GroupOffset("stalled", "lag", 0); off.Offset != 2 {
		t.Fatalf("a dry run moved the group to %d", off.Offset)
	}
	// By time: the message of offset 3 was published 57 minutes ago.
	e.do("seek-group", "POST", "/v1/groups/stalled/offsets:seek", map[string]any{"topic": "lag", "to": "timestamp",
		"timestamp": time.Now().Add(-57*time.Minute - 30*time.Second).UTC().Format(time.RFC3339)}).want(t, 200)
	if off, _, _ := e.bus.GroupOffset("stalled", "lag", 0); off.Offset != 3 {
		t.Fatalf("seek by time left the group at %d, want 3", off.Offset)
	}
	e.do("seek-group", "POST", "/v1/groups/stalled/offsets:seek", map[string]any{"topic": "lag", "to": "offsets", "offsets": map[string]int64{"0": 4}}).
		want(t, 200)
	if off, _, _ := e.bus.GroupOffset("stalled", "lag", 0); off.Offset != 4 {
		t.Fatalf("seek left the group at %d", off.Offset)
	}
	e.do("seek-group", "POST", "/v1/groups/stalled/offsets:seek", map[string]any{"topic": "lag", "to": "offsets", "offsets": map[string]int64{"0": 1}}).
		want(t, 409).problem(t)
	e.do("seek-group", "POST", "/v1/groups/stalled/offsets:seek", map[string]any{"topic": "lag", "to": "offsets", "offsets": map[string]int64{"0": 99}}).
		want(t, 400).problem(t)
	// A group with live members cannot be moved under them.
	e.declarePull("live", map[string]any{"pattern": "lag"})
	e.do("seek-group", "POST", "/v1/groups/live/offsets:seek", map[string]any{"topic": "lag", "to": "latest"}).want(t, 409).problem(t)
	var gd httpapi.GroupDetail
	e.do("get-group", "GET", "/v1/groups/live", nil).want(t, 200).decode(t, &gd)
	if gd.State != "Stable" || gd.Kind != "pull" || gd.Pull == nil || len(gd.MemberList) != 1 {
		t.Fatalf("live group %+v", gd)
	}
}

// Breakers are listed in their real state and reset by hand.
func TestBreakersListAndReset(t *testing.T) {
	e := newEnv(t, []core.Option{core.WithBreaker(core.BreakerPolicy{Threshold: 1, ResetTimeout: time.Hour}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 100, Base: time.Millisecond, Max: time.Millisecond})})
	if _, err := e.bus.Subscribe(context.Background(), "b", "failing", func(context.Context, *core.Message) error {
		return errors.New("down")
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	e.publish("b", "", "x")
	var list httpapi.BreakerList
	testutil.Eventually(t, 10*time.Second, func() bool {
		e.do("list-breakers", "GET", "/v1/breakers", nil).want(t, 200).decode(t, &list)
		return len(list.Breakers) == 1 && list.Breakers[0].State == "open"
	}, "the breaker opens")
	var res httpapi.ResetResult
	e.do("reset-breaker", "POST", "/v1/groups/failing/topics/b/breaker:reset", nil).want(t, 200).decode(t, &res)
	if !res.Reset {
		t.Fatal("reset of an open breaker said false")
	}
	e.do("reset-breaker", "POST", "/v1/groups/nobody/topics/b/breaker:reset", nil).want(t, 404).problem(t)
}

// noBreaker keeps a failing group's breaker from holding back its dead
// letters (by default it opens after 5 failures in a row).
var noBreaker = []core.Option{core.WithBreaker(core.BreakerPolicy{Threshold: 0})}

// deadLetters puts n letters in the queue through a failing group.
func (e *env) deadLetters(topic string, n int) {
	e.t.Helper()
	if _, err := e.bus.Subscribe(context.Background(), topic, "failing", func(context.Context, *core.Message) error {
		return core.Permanent(errors.New("rejected"))
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		e.t.Fatal(err)
	}
	for i := range n {
		e.publish(topic, "", fmt.Sprint(i))
	}
	testutil.Eventually(e.t, 10*time.Second, func() bool {
		c, _ := e.bus.DeadLetters().Count(context.Background())
		return c == n
	}, "letters arrive")
}

func TestDeadLetterListGetDelete(t *testing.T) {
	e := newEnv(t, nil)
	e.deadLetters("d", 5)
	var page httpapi.LetterList
	r := e.do("list-letters", "GET", "/v1/dlq/letters?page_size=2&topic=d", nil).want(t, 200)
	r.decode(t, &page)
	if len(page.Letters) != 2 || page.NextPageToken == "" || page.Letters[0].Group != "failing" || page.Letters[0].Error == "" {
		t.Fatalf("page %s", r.body)
	}
	var next httpapi.LetterList
	e.do("list-letters", "GET", "/v1/dlq/letters?page_size=10&page_token="+page.NextPageToken, nil).want(t, 200).decode(t, &next)
	if len(next.Letters) != 3 || next.Letters[0].ID <= page.Letters[1].ID {
		t.Fatalf("second page %+v", next)
	}
	id := page.Letters[0].ID
	var l httpapi.LetterOut
	e.do("get-letter", "GET", fmt.Sprintf("/v1/dlq/letters/%d", id), nil).want(t, 200).decode(t, &l)
	if l.ID != id || l.Topic != "d" || l.Attempts != 1 {
		t.Fatalf("letter %+v", l)
	}
	e.do("delete-letter", "DELETE", fmt.Sprintf("/v1/dlq/letters/%d", id), nil).want(t, 204)
	e.do("get-letter", "GET", fmt.Sprintf("/v1/dlq/letters/%d", id), nil).want(t, 404).problem(t)
	e.do("delete-letter", "DELETE", fmt.Sprintf("/v1/dlq/letters/%d", id), nil).want(t, 404).problem(t)
}

// A replay is a long-running operation: a dry run counts first, the
// operation reports progress as SSE, can be cancelled part way, and a
// letter leaves the queue only once re-published.
func TestDeadLetterReplayOperation(t *testing.T) {
	e := newEnv(t, noBreaker)
	e.deadLetters("r", 6)
	// The limit is required: a forgotten one never replays the whole queue.
	if p := e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"filter": map[string]any{"topic": "r"}}).want(t, 422).problem(t); !strings.Contains(p.Errors[0].Message, "limit") {
		t.Fatalf("problem %+v", p)
	}
	var dry struct {
		DryRun *httpapi.DryRunResult `json:"dry_run"`
	}
	e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"filter": map[string]any{"topic": "r"}, "limit": "all", "dry_run": true}).
		want(t, 200).decode(t, &dry)
	if dry.DryRun == nil || dry.DryRun.Count != 6 || len(dry.DryRun.Sample) != 6 {
		t.Fatalf("dry run %+v", dry.DryRun)
	}
	if c, _ := e.bus.DeadLetters().Count(context.Background()); c != 6 {
		t.Fatalf("a dry run changed the queue: %d letters", c)
	}
	e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"limit": 1, "to_group": "nobody"}).want(t, 404).problem(t)

	// A slow replay (4 a second) that is cancelled after its first letters.
	var started struct {
		Operation *httpapi.Operation `json:"operation"`
	}
	r := e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"filter": map[string]any{"topic": "r"}, "limit": 5, "rate": 4}).want(t, 202)
	r.decode(t, &started)
	op := started.Operation
	if op == nil || op.Total != 5 || op.Status != "running" || r.header.Get("Location") != "/v1/operations/"+op.ID {
		t.Fatalf("started %s (Location %q)", r.body, r.header.Get("Location"))
	}
	sc, stop := e.openStream("/v1/operations/" + op.ID + "/events")
	defer stop()
	for {
		ev := readEvents(t, sc, 1)[0]
		e.doc.validateValue(t, "Operation", []byte(ev.data))
		if strings.Contains(ev.data, `"done":2`) {
			break
		}
	}
	var cancelled httpapi.Operation
	e.do("cancel-operation", "POST", "/v1/operations/"+op.ID+"/cancel", nil).want(t, 200).decode(t, &cancelled)
	if cancelled.Status != "cancelled" || cancelled.Done < 2 || cancelled.Done >= 5 || cancelled.FinishedAt == nil {
		t.Fatalf("cancelled %+v", cancelled)
	}
	var original []uint64
	for _, l := range dry.DryRun.Sample {
		original = append(original, l.ID)
	}
	still, _ := e.bus.DeadLetters().List(context.Background(), dlq.Filter{IDs: original, Limit: dlq.All})
	if left := len(still); left != 6-cancelled.Done {
		t.Fatalf("%d letters left after %d replayed", left, cancelled.Done)
	}
	// The replayed messages are back on the topic (and fail again: the
	// failing group dead-letters them anew, which is not replayed by the
	// same operation).
	hist, err := e.bus.History(context.Background(), "r", 100)
	if err != nil || len(hist) != 6+cancelled.Done {
		t.Fatalf("topic holds %d messages, want %d: %v", len(hist), 6+cancelled.Done, err)
	}
	var list httpapi.OperationList
	e.do("list-operations", "GET", "/v1/operations", nil).want(t, 200).decode(t, &list)
	if len(list.Operations) != 1 || list.Operations[0].ID != op.ID {
		t.Fatalf("operations %+v", list)
	}
	e.do("get-operation", "GET", "/v1/operations/999", nil).want(t, 404).problem(t)
}

func TestDeadLetterPurgeAndLoopGuard(t *testing.T) {
	e := newEnv(t, noBreaker, httpapi.WithMaxReplayCount(1))
	e.deadLetters("p", 3)
	// Replay everything once: the messages fail again and come back with
	// replay_count 1, which the guard then refuses to replay again.
	var started struct {
		Operation *httpapi.Operation `json:"operation"`
	}
	e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"limit": "all"}).want(t, 202).decode(t, &started)
	waitOperation(t, e, started.Operation.ID)
	testutil.Eventually(t, 10*time.Second, func() bool {
		ls, _ := e.bus.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
		return len(ls) == 3 && core.ReplayCount(&ls[0]) == 1
	}, "the replayed messages are dead-lettered again")
	var dry struct {
		DryRun *httpapi.DryRunResult `json:"dry_run"`
	}
	e.do("replay-letters", "POST", "/v1/dlq:replay", map[string]any{"limit": "all", "dry_run": true}).want(t, 200).decode(t, &dry)
	if dry.DryRun.Count != 0 || dry.DryRun.Guard != 3 {
		t.Fatalf("loop guard: %+v", dry.DryRun)
	}
	e.do("purge-letters", "POST", "/v1/dlq:purge", map[string]any{"limit": 2}).want(t, 202).decode(t, &started)
	waitOperation(t, e, started.Operation.ID)
	if c, _ := e.bus.DeadLetters().Count(context.Background()); c != 1 {
		t.Fatalf("%d letters after purging 2 of 3", c)
	}
}

func waitOperation(t *testing.T, e *env, id string) httpapi.Operation {
	t.Helper()
	sc, stop := e.openStream("/v1/operations/" + id + "/events")
	defer stop()
	for {
		ev := readEvents(t, sc, 1)[0]
		if !strings.Contains(ev.data, `"status":"running"`) {
			var op httpapi.Operation
			e.doc.validateValue(t, "Operation", []byte(ev.data))
			if !strings.Contains(ev.data, `"status":"succeeded"`) {
				t.Fatalf("operation ended %s", ev.data)
			}
			return op
		}
	}
}

func TestStorage(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("s", "", "x")
	e.do("sync-storage", "POST", "/v1/storage:sync", nil).want(t, 200)
	var op httpapi.Operation
	e.do("compact-storage", "POST", "/v1/storage:compact", nil).want(t, 202).decode(t, &op)
	waitOperation(t, e, op.ID)
}

func TestTopicPatchDeleteAndOffsetForTime(t *testing.T) {
	e := newEnv(t, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		m := &core.Message{Topic: "edit", Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if _, err := e.bus.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var o httpapi.OffsetForTime
	e.do("offset-for-time", "GET", "/v1/topics/edit/partitions/0/offsets?time=2026-01-01T00:02:30Z", nil).want(t, 200).decode(t, &o)
	if o.Offset != 3 {
		t.Fatalf("offset for 00:02:30 = %d, want 3", o.Offset)
	}
	var d httpapi.TopicDetail
	e.do("patch-topic", "PATCH", "/v1/topics/edit", map[string]any{"retention": map[string]any{"max_messages": 2}, "partitions": 3}).
		want(t, 200).decode(t, &d)
	if d.Retention.MaxMessages != 2 || d.Partitions != 3 {
		t.Fatalf("patched %+v", d)
	}
	e.do("patch-topic", "PATCH", "/v1/topics/edit", map[string]any{"partitions": 2}).want(t, 400).problem(t)
	e.do("delete-topic", "DELETE", "/v1/topics/edit", nil).want(t, 204)
	e.do("get-topic", "GET", "/v1/topics/edit", nil).want(t, 404).problem(t)
	e.do("delete-topic", "DELETE", "/v1/topics/edit", nil).want(t, 404).problem(t)
}
