package http_test

import (
	stdhttp "net/http"
	"testing"

	httpapi "github.com/onexbus/onexbus/transport/http"
)

func TestPublishOneAndReadHistory(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("publish", "POST", "/v1/topics/orders/messages", map[string]any{
		"key": "k1", "value": map[string]any{"amount": 10}, "headers": map[string]string{"event_type": "order.placed"},
	}).want(t, stdhttp.StatusCreated)
	var res httpapi.PublishResult
	r.decode(t, &res)
	if res.Offset != 0 || res.Duplicate || res.MessageID == "" {
		t.Fatalf("result %+v", res)
	}
	h := e.do("history", "GET", "/v1/topics/orders/messages?limit=10", nil).want(t, stdhttp.StatusOK)
	var msgs httpapi.Messages
	h.decode(t, &msgs)
	if len(msgs.Messages) != 1 || string(msgs.Messages[0].Value) != `{"amount":10}` || *msgs.Messages[0].Key != "k1" ||
		msgs.Messages[0].Headers["event_type"] != "order.placed" || msgs.Messages[0].Headers["message_id"] != res.MessageID {
		t.Fatalf("history %s", h.body)
	}
}
