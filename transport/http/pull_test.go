package http_test

import (
	"context"
	"encoding/json"
	stdhttp "net/http"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/testutil"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

func (e *env) publish(topic, key, value string) {
	e.t.Helper()
	m := &core.Message{Topic: topic, Key: []byte(key), Value: []byte(value)}
	if _, err := e.bus.Publish(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) declarePull(group string, cfg map[string]any) {
	e.t.Helper()
	e.do("put-pull-group", "PUT", "/v1/groups/"+group+"/pull", cfg).want(e.t, stdhttp.StatusCreated)
}

func (e *env) receive(group, query string) []httpapi.MessageOut {
	e.t.Helper()
	var out httpapi.Messages
	e.do("receive", "POST", "/v1/groups/"+group+"/messages:receive?"+query, nil).want(e.t, stdhttp.StatusOK).decode(e.t, &out)
	return out.Messages
}

func (e *env) leaseCall(op, group string, body any) []httpapi.LeaseResult {
	e.t.Helper()
	var out httpapi.LeaseResults
	e.do(op, "POST", "/v1/groups/"+group+"/messages:"+op, body).want(e.t, stdhttp.StatusOK).decode(e.t, &out)
	return out.Results
}

func values(ms []httpapi.MessageOut) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = *m.ValueText
	}
	return out
}

// ACCEPTANCE 37: receive then ack moves the group on; an ack answers per
// lease id, unknown ids included.
func TestLeaseReceiveAck(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("workers", map[string]any{"pattern": "jobs", "start": "earliest"})
	// Declaring again with the same settings is fine; others conflict.
	e.do("put-pull-group", "PUT", "/v1/groups/workers/pull", map[string]any{"pattern": "jobs", "start": "earliest"}).want(t, stdhttp.StatusOK)
	e.do("put-pull-group", "PUT", "/v1/groups/workers/pull", map[string]any{"pattern": "other"}).want(t, stdhttp.StatusConflict)
	e.publish("jobs", "", "j1")
	ms := e.receive("workers", "max=10&wait=5s")
	if len(ms) != 1 || *ms[0].ValueText != "j1" || ms[0].Attempt != 1 || ms[0].LeaseID == "" || ms[0].Group != "workers" ||
		ms[0].LeaseExpiresAt == nil || !ms[0].LeaseExpiresAt.After(time.Now()) {
		t.Fatalf("received %+v", ms)
	}
	res := e.leaseCall("ack", "workers", map[string]any{"lease_ids": []string{ms[0].LeaseID, "no-such-lease"}})
	if res[0].Result != "acked" || res[1].Result != "unknown" {
		t.Fatalf("ack results %+v", res)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		off, ok, _ := e.bus.GroupOffset("workers", "jobs", 0)
		return ok && off.Offset == 1
	}, "the ack moves the cursor")
	if again := e.leaseCall("ack", "workers", map[string]any{"lease_ids": []string{ms[0].LeaseID}}); again[0].Result != "unknown" {
		t.Fatalf("second ack %+v", again)
	}
	e.do("receive", "POST", "/v1/groups/nobody/messages:receive", nil).want(t, stdhttp.StatusNotFound)
}

// A nack with a delay is retried no sooner than the delay, as attempt 2.
func TestLeaseNackWithDelay(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest", "retry_base": "1ms"})
	e.publish("t", "", "v")
	first := e.receive("g", "wait=5s")
	nacked := time.Now()
	if r := e.leaseCall("nack", "g", map[string]any{"lease_ids": []string{first[0].LeaseID}, "delay": "400ms"}); r[0].Result != "nacked" {
		t.Fatalf("nack %+v", r)
	}
	second := e.receive("g", "wait=10s")
	if len(second) != 1 || second[0].Attempt != 2 || second[0].Offset != first[0].Offset {
		t.Fatalf("redelivery %+v", second)
	}
	if d := time.Since(nacked); d < 400*time.Millisecond {
		t.Fatalf("redelivered after %v, before the 400ms delay", d)
	}
}

// A permanent nack sends the message straight to the dead-letter queue
// with the client's reason.
func TestLeasePermanentNackDeadLetters(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest"})
	e.publish("t", "k", "poison")
	ms := e.receive("g", "wait=5s")
	e.leaseCall("nack", "g", map[string]any{"lease_ids": []string{ms[0].LeaseID}, "permanent": true, "error": "cannot parse"})
	var letters []dlq.Letter
	testutil.Eventually(t, 10*time.Second, func() bool {
		letters, _ = e.bus.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
		return len(letters) == 1
	}, "the letter arrives")
	if l := letters[0]; l.Attempts != 1 || l.Group != "g" || string(l.Value) != "poison" {
		t.Fatalf("letter %+v", l)
	}
}

// A lease not acked in time is a failed attempt: redelivered as attempt
// 2, and dead-lettered at the group's limit; an ack after expiry answers
// unknown.
func TestLeaseExpiryCountsAsAttempt(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest", "lease": "200ms", "max_attempts": 2, "retry_base": "1ms", "retry_max": "1ms"})
	e.publish("t", "", "slow")
	first := e.receive("g", "wait=5s")
	second := e.receive("g", "wait=10s") // arrives once the first lease expired
	if len(first) != 1 || len(second) != 1 || second[0].Attempt != 2 {
		t.Fatalf("first %+v second %+v", first, second)
	}
	if r := e.leaseCall("ack", "g", map[string]any{"lease_ids": []string{first[0].LeaseID}}); r[0].Result != "unknown" {
		t.Fatalf("ack of an expired lease: %+v", r)
	}
	var letters []dlq.Letter
	testutil.Eventually(t, 10*time.Second, func() bool {
		letters, _ = e.bus.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
		return len(letters) == 1
	}, "dead-lettered after the second expiry")
	if letters[0].Attempts != 2 {
		t.Fatalf("letter %+v", letters[0])
	}
}

// Extend keeps a lease past its first expiry.
func TestLeaseExtend(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest", "lease": "300ms", "retry_base": "1ms"})
	e.publish("t", "", "v")
	ms := e.receive("g", "wait=5s")
	r := e.leaseCall("extend", "g", map[string]any{"lease_ids": []string{ms[0].LeaseID, "nope"}, "lease": "1m"})
	if r[0].Result != "extended" || r[0].LeaseExpiresAt == nil || time.Until(*r[0].LeaseExpiresAt) < 50*time.Second || r[1].Result != "unknown" {
		t.Fatalf("extend %+v", r)
	}
	// Unextended, the lease would expire and the message come back within
	// 300 ms: it does not.
	if again := e.receive("g", "wait=900ms"); len(again) != 0 {
		t.Fatalf("redelivered while extended: %+v", again)
	}
	if a := e.leaseCall("ack", "g", map[string]any{"lease_ids": []string{ms[0].LeaseID}}); a[0].Result != "acked" {
		t.Fatalf("ack after extend %+v", a)
	}
}

// With key ordering a lease holds back only the later messages of its
// own key.
func TestLeaseKeyOrdering(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest", "ordering": "key", "max_in_flight": 8})
	e.publish("t", "k1", "a")
	e.publish("t", "k1", "b")
	e.publish("t", "k2", "c")
	first := e.receive("g", "max=10&wait=5s")
	// The first receive may come before every delivery is parked; collect
	// until both keys' heads are leased.
	for len(first) < 2 {
		first = append(first, e.receive("g", "max=10&wait=5s")...)
	}
	got := values(first)
	if len(got) != 2 || !((got[0] == "a" && got[1] == "c") || (got[0] == "c" && got[1] == "a")) {
		t.Fatalf("first leases %v, want a and c (b waits behind a)", got)
	}
	if more := e.receive("g", "wait=300ms"); len(more) != 0 {
		t.Fatalf("b leased while a is: %v", values(more))
	}
	for _, m := range first {
		if *m.ValueText == "a" {
			e.leaseCall("ack", "g", map[string]any{"lease_ids": []string{m.LeaseID}})
		}
	}
	if next := e.receive("g", "wait=5s"); len(next) != 1 || *next[0].ValueText != "b" {
		t.Fatalf("after acking a: %v", values(next))
	}
}

// Deleting a pull group gives its leases back without an attempt; the
// position stays for the next declaration.
func TestDeletePullGroup(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest"})
	e.publish("t", "", "v")
	ms := e.receive("g", "wait=5s")
	e.do("delete-pull-group", "DELETE", "/v1/groups/g/pull", nil).want(t, stdhttp.StatusNoContent)
	e.do("delete-pull-group", "DELETE", "/v1/groups/g/pull", nil).want(t, stdhttp.StatusNotFound)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest"})
	again := e.receive("g", "wait=5s")
	if len(again) != 1 || again[0].Offset != ms[0].Offset || again[0].Attempt != 1 {
		t.Fatalf("after redeclaring: %+v", again)
	}
}

// The SSE stream leases deliveries; a client that goes away gives its
// leases back without an attempt, and an ack through the API works for a
// streamed lease.
func TestLeaseStream(t *testing.T) {
	e := newEnv(t, nil)
	e.declarePull("g", map[string]any{"pattern": "t", "start": "earliest", "ordering": "none", "max_in_flight": 4})
	e.publish("t", "", "a")
	e.publish("t", "", "b")
	sc, stop := e.openStream("/v1/groups/g/messages:stream?max_in_flight=4&value_encoding=text")
	evs := readEvents(t, sc, 2)
	var first httpapi.MessageOut
	for _, ev := range evs {
		e.doc.validateValue(t, "MessageOut", []byte(ev.data))
	}
	if err := json.Unmarshal([]byte(evs[0].data), &first); err != nil || evs[0].id != first.LeaseID || first.Attempt != 1 {
		t.Fatalf("event %+v: %v", evs[0], err)
	}
	if r := e.leaseCall("ack", "g", map[string]any{"lease_ids": []string{first.LeaseID}}); r[0].Result != "acked" {
		t.Fatalf("ack of a streamed lease: %+v", r)
	}
	stop() // the client goes away holding the other lease
	again := e.receive("g", "wait=10s&value_encoding=text")
	if len(again) != 1 || *again[0].ValueText == *first.ValueText || again[0].Attempt != 1 {
		t.Fatalf("after the stream closed: %+v (attempt must stay 1: released, not failed)", again)
	}
}
