package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/message"
)

// Bounds of a message search.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxExprLen      = 1000
	maxExprNodes    = 200
	fetchChunk      = 256
)

// query is a message browser search, parsed from the URL.
type query struct {
	From                   string // newest, oldest, offset, time
	Partition              string // "" all
	Offset, At             string
	Key, Header, CID, Text string
	Since, Until           string
	Expr                   string
	Limit                  int

	part             int32
	onePart          bool
	offset           int64
	at, since, until time.Time
	hdrName, hdrVal  string
	cid              uuid.UUID
	hasCID           bool
	prog             *vm.Program
}

type msgView struct {
	Topic      string
	Partition  int32
	Offset     int64
	Time       time.Time
	Key        string
	Headers    []message.RecordHeader
	Value      string
	Curl       string
	RepublishP string
}

type browse struct {
	Topic    string
	Q        query
	Messages []msgView
	Scanned  int
	Budget   int
	Capped   bool
	Err      string
	ExprErrs int
}

func parseQuery(v url.Values) (query, error) {
	q := query{From: v.Get("from"), Partition: v.Get("partition"), Offset: v.Get("offset"), At: v.Get("at"),
		Key: v.Get("key"), Header: v.Get("header"), CID: v.Get("cid"), Text: v.Get("text"),
		Since: v.Get("since"), Until: v.Get("until"), Expr: strings.TrimSpace(v.Get("expr")), Limit: defaultPageSize}
	var errs []error
	if q.From == "" {
		q.From = "newest"
	}
	switch q.From {
	case "newest", "oldest", "offset", "time":
	default:
		errs = append(errs, fmt.Errorf("from %q is not newest, oldest, offset or time", q.From))
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			errs = append(errs, fmt.Errorf("limit %q not in [1, %d]", s, maxPageSize))
		} else {
			q.Limit = n
		}
	}
	if q.Partition != "" {
		p, err := strconv.ParseInt(q.Partition, 10, 32)
		if err != nil || p < 0 {
			errs = append(errs, fmt.Errorf("partition %q is not a partition number", q.Partition))
		}
		q.part, q.onePart = int32(p), true
	}
	if q.From == "offset" {
		n, err := strconv.ParseInt(q.Offset, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("offset %q is not an offset", q.Offset))
		}
		q.offset = n
	}
	pt := func(name, s string, dst *time.Time) {
		if s == "" {
			return
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				*dst = t
				return
			}
		}
		errs = append(errs, fmt.Errorf("%s %q is not a time (RFC 3339, or 2006-01-02T15:04)", name, s))
	}
	pt("at", q.At, &q.at)
	pt("since", q.Since, &q.since)
	pt("until", q.Until, &q.until)
	if q.From == "time" && q.at.IsZero() {
		errs = append(errs, errors.New("from time needs at"))
	}
	if q.Header != "" {
		n, val, ok := strings.Cut(q.Header, "=")
		if !ok || n == "" {
			errs = append(errs, fmt.Errorf("header %q is not name=value", q.Header))
		}
		q.hdrName, q.hdrVal = n, val
	}
	if q.CID != "" {
		id, err := uuid.Parse(q.CID)
		if err != nil {
			errs = append(errs, fmt.Errorf("correlation id %q is not a UUID", q.CID))
		}
		q.cid, q.hasCID = id, true
	}
	if q.Expr != "" {
		if len(q.Expr) > maxExprLen {
			errs = append(errs, fmt.Errorf("expression longer than %d characters", maxExprLen))
		} else {
			prog, err := expr.Compile(q.Expr, expr.Env(exprEnv{}), expr.AsBool(), expr.MaxNodes(maxExprNodes))
			if err != nil {
				errs = append(errs, fmt.Errorf("expression: %w", err))
			}
			q.prog = prog
		}
	}
	if err := errors.Join(errs...); err != nil {
		return q, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return q, nil
}

// exprEnv is what an expression sees of a message.
type exprEnv struct {
	Topic     string            `expr:"topic"`
	Partition int               `expr:"partition"`
	Offset    int               `expr:"offset"`
	Key       string            `expr:"key"`
	Value     string            `expr:"value"`
	JSON      any               `expr:"json"`
	Headers   map[string]string `expr:"headers"`
	Timestamp time.Time         `expr:"timestamp"`
}

// match reports whether m passes q's filters; an expression that fails
// on m counts as no match and increments *exprErrs.
func (q *query) match(m *core.Message, exprErrs *int) bool {
	if q.Key != "" && string(m.Key) != q.Key {
		return false
	}
	if !q.since.IsZero() && m.Timestamp.Before(q.since) {
		return false
	}
	if !q.until.IsZero() && !m.Timestamp.Before(q.until) {
		return false
	}
	if q.hasCID && m.Headers.CorrelationID != q.cid {
		return false
	}
	var hdrs []message.RecordHeader
	if q.hdrName != "" || q.Text != "" || q.prog != nil {
		hdrs = m.Headers.AppendRecordHeaders(nil)
	}
	if q.hdrName != "" && !slices.ContainsFunc(hdrs, func(h message.RecordHeader) bool {
		return h.Key == q.hdrName && string(h.Value) == q.hdrVal
	}) {
		return false
	}
	if q.Text != "" && !strings.Contains(string(m.Value), q.Text) && !strings.Contains(string(m.Key), q.Text) &&
		!slices.ContainsFunc(hdrs, func(h message.RecordHeader) bool { return strings.Contains(string(h.Value), q.Text) }) {
		return false
	}
	if q.prog != nil {
		env := exprEnv{Topic: m.Topic, Partition: int(m.Partition), Offset: int(m.Offset), Key: string(m.Key),
			Value: string(m.Value), Headers: make(map[string]string, len(hdrs)), Timestamp: m.Timestamp}
		for _, h := range hdrs {
			env.Headers[h.Key] = string(h.Value)
		}
		if json.Valid(m.Value) {
			_ = json.Unmarshal(m.Value, &env.JSON) // valid JSON always decodes into any
		}
		out, err := expr.Run(q.prog, env)
		if err != nil {
			*exprErrs++
			return false
		}
		ok, _ := out.(bool)
		return ok
	}
	return true
}

// search runs q on topic within budget messages read.
func (d *Dashboard) search(ctx context.Context, topic string, q *query) (b browse) {
	b = browse{Topic: topic, Q: *q, Budget: d.opts.ScanBudget}
	tc, ok := d.bus.TopicConfig(topic)
	if !ok {
		b.Err = fmt.Sprintf("topic %q does not exist", topic)
		return b
	}
	if q.onePart && q.part >= tc.Partitions {
		b.Err = fmt.Sprintf("partition %d: the topic has %d", q.part, tc.Partitions)
		return b
	}
	var found []*core.Message
	if q.From == "newest" {
		opts := []core.HistoryOption{core.TimeRange(q.since, q.until)}
		if q.onePart {
			opts = append(opts, core.InPartition(q.part))
		}
		if q.hasCID {
			opts = append(opts, core.WithCorrelationID(q.cid))
		}
		msgs, err := d.bus.History(ctx, topic, b.Budget, opts...)
		if err != nil {
			b.Err = err.Error()
			return b
		}
		b.Scanned = len(msgs)
		for i := len(msgs) - 1; i >= 0 && len(found) < q.Limit; i-- {
			if q.match(msgs[i], &b.ExprErrs) {
				found = append(found, msgs[i])
			}
		}
		b.Capped = len(found) < q.Limit && len(msgs) == b.Budget
	} else {
		parts := []int32{}
		for p := range tc.Partitions {
			if !q.onePart || p == q.part {
				parts = append(parts, p)
			}
		}
		for _, p := range parts {
			from, err := d.startAt(ctx, topic, p, q)
			if err != nil {
				b.Err = err.Error()
				return b
			}
			n := 0
			for n < q.Limit && b.Scanned < b.Budget {
				msgs, err := d.bus.Fetch(ctx, topic, p, from, min(fetchChunk, b.Budget-b.Scanned))
				if err != nil {
					b.Err = err.Error()
					return b
				}
				if len(msgs) == 0 {
					break
				}
				for _, m := range msgs {
					b.Scanned++
					from = m.Offset + 1
					if n < q.Limit && q.match(m, &b.ExprErrs) {
						found = append(found, m)
						n++
					}
				}
			}
			if b.Scanned >= b.Budget {
				b.Capped = true
				break
			}
		}
		slices.SortStableFunc(found, func(x, y *core.Message) int { return x.Timestamp.Compare(y.Timestamp) })
		if len(found) > q.Limit {
			found = found[:q.Limit]
		}
	}
	for _, m := range found {
		b.Messages = append(b.Messages, d.view(m))
	}
	return b
}

func (d *Dashboard) startAt(ctx context.Context, topic string, p int32, q *query) (int64, error) {
	switch q.From {
	case "oldest":
		return d.bus.StartOffset(topic, p)
	case "offset":
		start, err := d.bus.StartOffset(topic, p)
		return max(start, q.offset), err
	default:
		return d.bus.Kafka().OffsetForTime(ctx, topic, p, q.at.UnixMilli())
	}
}

func (d *Dashboard) view(m *core.Message) msgView {
	hdrs := m.Headers.AppendRecordHeaders(nil)
	return msgView{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Timestamp, Key: pretty(m.Key),
		Headers: hdrs, Value: pretty(m.Value), Curl: d.curl(m, hdrs),
		RepublishP: fmt.Sprintf("%stopics/%s/messages/%d/%d/republish", d.opts.Prefix, url.PathEscape(m.Topic), m.Partition, m.Offset)}
}

// curl is a command publishing a copy of m through the HTTP API (raw
// publish: body is the value, Onex-Key and Onex-Header-* the rest).
func (d *Dashboard) curl(m *core.Message, hdrs []message.RecordHeader) string {
	base := d.opts.APIBase
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	var s strings.Builder
	s.WriteString("curl -sS -X POST " + shellQuote(base+"/v1/topics/"+url.PathEscape(m.Topic)+"/messages"))
	ct := m.Headers.ContentType
	if ct == "" {
		ct = message.DefaultContentType
	}
	s.WriteString(" -H " + shellQuote("Content-Type: "+ct))
	if len(m.Key) > 0 {
		s.WriteString(" -H " + shellQuote("Onex-Key: "+string(m.Key)))
	}
	for _, h := range hdrs {
		switch h.Key {
		case message.HeaderMessageID, message.HeaderTimestamp, message.HeaderContentType:
			continue // fresh on the copy, or sent as Content-Type
		}
		s.WriteString(" -H " + shellQuote("Onex-Header-"+h.Key+": "+string(h.Value)))
	}
	s.WriteString(" --data-binary " + shellQuote(string(m.Value)))
	return s.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (d *Dashboard) messages(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	q, err := parseQuery(r.URL.Query())
	var b browse
	if err != nil {
		b = browse{Topic: topic, Q: q, Err: err.Error(), Budget: d.opts.ScanBudget}
	} else {
		b = d.search(r.Context(), topic, &q)
	}
	d.render(w, r, "messages", "Messages in "+topic, b)
}

// republish publishes a copy of one message (fresh message id and time).
func (d *Dashboard) republish(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	p, err1 := strconv.ParseInt(r.PathValue("part"), 10, 32)
	off, err2 := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || off < 0 {
		d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: partition and offset must be numbers", ErrBadRequest))
		return
	}
	msgs, err := d.bus.Fetch(r.Context(), topic, int32(p), off, 1)
	if err != nil || len(msgs) == 0 || msgs[0].Offset != off {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: message %s/%d@%d (%v)", ErrNotFound, topic, p, off, err))
		return
	}
	m := msgs[0]
	cp := &core.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: m.Headers}
	cp.Headers.MessageID = uuid.Nil
	cp.Headers.Timestamp = time.Time{}
	newOff, err := d.bus.Publish(r.Context(), cp)
	if err != nil {
		d.fail(w, http.StatusInternalServerError, fmt.Errorf("dashboard: republish %s/%d@%d: %w", topic, p, off, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<span class="ok">re-published as %s/%d@%d</span>`, htmlEscape(topic), cp.Partition, newOff)
}
