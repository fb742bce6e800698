package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	stdhttp "net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// dlqPage is how many letters a replay or purge handles per step.
const dlqPage = 200

// LetterOut is a dead letter with its provenance.
type LetterOut struct {
	ID             uint64            `json:"id"`
	Topic          string            `json:"topic"`
	Partition      int32             `json:"partition"`
	Offset         int64             `json:"offset"`
	Group          string            `json:"group"`
	Attempts       int               `json:"attempts"`
	Error          string            `json:"error" doc:"The last error, redacted and capped."`
	FirstFailure   time.Time         `json:"first_failure"`
	LastFailure    time.Time         `json:"last_failure"`
	DeadLetteredAt time.Time         `json:"dead_lettered_at"`
	DLQTopic       string            `json:"dlq_topic,omitempty"`
	ReplayCount    int               `json:"replay_count" doc:"How many times the message was replayed before."`
	Headers        map[string]string `json:"headers"`
	EncodedKey
	EncodedValue
}

func letterOut(l *dlq.Letter, enc string) LetterOut {
	hs := make(map[string]string, len(l.Headers))
	for _, h := range l.Headers {
		hs[h.Key] = h.Value
	}
	return LetterOut{
		ID: l.ID, Topic: l.Topic, Partition: l.Partition, Offset: l.Offset, Group: l.Group, Attempts: l.Attempts,
		Error: l.Error, FirstFailure: l.FirstFailure.UTC(), LastFailure: l.LastFailure.UTC(),
		DeadLetteredAt: l.DeadLetteredAt.UTC(), DLQTopic: l.DLQTopic, ReplayCount: core.ReplayCount(l), Headers: hs,
		EncodedKey: encodeKey(l.Key), EncodedValue: encodeValue(l.Value, enc),
	}
}

// LetterList is a page of dead letters, oldest first.
type LetterList struct {
	Letters       []LetterOut `json:"letters"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

type listLettersInput struct {
	Topic         string    `query:"topic"`
	Group         string    `query:"group"`
	ErrorContains string    `query:"error_contains"`
	Since         time.Time `query:"since" doc:"Dead-lettered at or after (RFC 3339)."`
	Until         time.Time `query:"until" doc:"Dead-lettered before (RFC 3339)."`
	PageSize      int       `query:"page_size" default:"100" minimum:"1" maximum:"1000"`
	PageToken     string    `query:"page_token"`
	ValueEncoding string    `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

type letterListOutput struct {
	Link string `header:"Link"`
	Body LetterList
}

type letterInput struct {
	ID            uint64 `path:"id" minimum:"1"`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

type letterOutput struct{ Body LetterOut }

// LetterFilter selects dead letters; every field set must match.
type LetterFilter struct {
	Topic         string    `json:"topic,omitempty"`
	Group         string    `json:"group,omitempty"`
	ErrorContains string    `json:"error_contains,omitempty"`
	Since         time.Time `json:"since,omitzero"`
	Until         time.Time `json:"until,omitzero"`
	IDs           []uint64  `json:"ids,omitempty"`
}

// DLQActionBody is a replay or purge. Limit is required: a number, or
// "all" for every match, so that a forgotten limit never empties the
// queue.
type DLQActionBody struct {
	Filter  LetterFilter    `json:"filter,omitzero" required:"false"`
	Limit   json.RawMessage `json:"limit" doc:"The most letters: a number >= 0, or \"all\". Required."`
	ToGroup string          `json:"to_group,omitempty" doc:"Replay to this consumer group only (replay)."`
	Rate    float64         `json:"rate,omitempty" minimum:"0" doc:"Letters per second (replay); 0 is unlimited."`
	DryRun  bool            `json:"dry_run,omitempty" doc:"Count and sample what would be done; change nothing."`
}

// DryRunResult says what a replay or purge would do.
type DryRunResult struct {
	Count  int         `json:"count" doc:"Letters that would be handled."`
	Guard  int         `json:"skipped_by_loop_guard,omitempty" doc:"Of them, letters a replay would skip: replayed too often already."`
	Sample []LetterOut `json:"sample" doc:"The first few of them."`
}

type dlqActionInput struct{ Body DLQActionBody }

// DLQActionResult is a dry run's answer (200) or a started operation
// (202).
type DLQActionResult struct {
	DryRun    *DryRunResult `json:"dry_run,omitempty"`
	Operation *Operation    `json:"operation,omitempty"`
}

type dlqActionOutput struct {
	Location string `header:"Location"`
	Status   int
	Body     DLQActionResult
}

func (s *Server) registerDLQ() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-letters", Method: stdhttp.MethodGet, Path: "/v1/dlq/letters",
		Summary: "List dead letters", Tags: []string{"dlq"},
	}, s.listLetters)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-letter", Method: stdhttp.MethodGet, Path: "/v1/dlq/letters/{id}",
		Summary: "A dead letter with its payload and provenance", Tags: []string{"dlq"},
	}, func(ctx context.Context, in *letterInput) (*letterOutput, error) {
		enc, err := parseEncoding(in.ValueEncoding)
		if err != nil {
			return nil, err
		}
		l, err := s.bus.DeadLetters().Get(ctx, in.ID)
		if err != nil {
			return nil, s.problem(err)
		}
		return &letterOutput{Body: letterOut(&l, enc)}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "delete-letter", Method: stdhttp.MethodDelete, Path: "/v1/dlq/letters/{id}",
		Summary: "Delete a dead letter", Tags: []string{"dlq"}, DefaultStatus: stdhttp.StatusNoContent,
	}, func(ctx context.Context, in *letterInput) (*struct{}, error) {
		n, err := s.bus.DeadLetters().Remove(ctx, in.ID)
		if err != nil {
			return nil, s.problem(err)
		}
		if n == 0 {
			return nil, problemf(stdhttp.StatusNotFound, "letter_not_found", "no dead letter %d", in.ID)
		}
		return nil, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "replay-letters", Method: stdhttp.MethodPost, Path: "/v1/dlq:replay",
		Summary: "Replay dead letters (a long-running operation)",
		Description: "Re-publishes the letters that match, oldest first, to their topic or to one group, at a rate; each leaves the " +
			"queue only once re-published. A letter replayed too often already (loop guard) is skipped. 202 with the operation, " +
			"or 200 with a count and a sample when dry_run.",
		Tags:      []string{"dlq"},
		Responses: alsoStatus[DLQActionResult](s, stdhttp.StatusAccepted, "The operation started: follow Location."),
	}, func(ctx context.Context, in *dlqActionInput) (*dlqActionOutput, error) {
		return s.dlqAction(ctx, "dlq_replay", &in.Body)
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "purge-letters", Method: stdhttp.MethodPost, Path: "/v1/dlq:purge",
		Summary: "Purge dead letters (a long-running operation)", Tags: []string{"dlq"},
		Description: "Deletes the letters that match, oldest first. 202 with the operation, or 200 with a count and a sample when dry_run.",
		Responses:   alsoStatus[DLQActionResult](s, stdhttp.StatusAccepted, "The operation started: follow Location."),
	}, func(ctx context.Context, in *dlqActionInput) (*dlqActionOutput, error) {
		return s.dlqAction(ctx, "dlq_purge", &in.Body)
	})
}

func (s *Server) listLetters(ctx context.Context, in *listLettersInput) (*letterListOutput, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	var after uint64
	if in.PageToken != "" {
		if after, err = strconv.ParseUint(in.PageToken, 10, 64); err != nil {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_page_token", "page_token is not one this API gave")
		}
	}
	f := dlq.Filter{Topic: in.Topic, Group: in.Group, ErrorContains: in.ErrorContains, Since: in.Since, Until: in.Until,
		AfterID: after, Limit: in.PageSize + 1}
	ls, err := s.bus.DeadLetters().List(ctx, f)
	if err != nil {
		return nil, s.problem(err)
	}
	out := &letterListOutput{Body: LetterList{Letters: []LetterOut{}}}
	for i := range ls {
		if i == in.PageSize {
			out.Body.NextPageToken = strconv.FormatUint(ls[i-1].ID, 10)
			out.Link = fmt.Sprintf(`</v1/dlq/letters?page_size=%d&page_token=%s>; rel="next"`, in.PageSize, out.Body.NextPageToken)
			break
		}
		out.Body.Letters = append(out.Body.Letters, letterOut(&ls[i], enc))
	}
	return out, nil
}

// parseLimit reads a DLQ action's required limit.
func parseLimit(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, problemf(stdhttp.StatusBadRequest, "limit_required", `limit is required: a number, or "all"`)
	}
	var all string
	if json.Unmarshal(raw, &all) == nil {
		if all == "all" {
			return dlq.All, nil
		}
		return 0, problemf(stdhttp.StatusBadRequest, "invalid_limit", `limit %q is not a number or "all"`, all)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
		return 0, problemf(stdhttp.StatusBadRequest, "invalid_limit", `limit %s is not a number >= 0 or "all"`, raw)
	}
	return n, nil
}

// dlqAction runs a replay or a purge: counted and sampled in a dry run,
// else as an operation.
func (s *Server) dlqAction(ctx context.Context, kind string, body *DLQActionBody) (*dlqActionOutput, error) {
	limit, err := parseLimit(body.Limit)
	if err != nil {
		return nil, err
	}
	replay := kind == "dlq_replay"
	if replay && body.Rate != 0 && (body.Rate < dlq.MinReplayRate || body.Rate > dlq.MaxReplayRate) {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_rate", "rate %v not 0 or in [%v, %v]", body.Rate, dlq.MinReplayRate, dlq.MaxReplayRate)
	}
	if replay && body.ToGroup != "" && !s.groupExists(body.ToGroup) {
		return nil, problemf(stdhttp.StatusNotFound, "group_not_found", "group %q has no members and no committed offsets: nobody would get the replay", body.ToGroup)
	}
	f := dlq.Filter{Topic: body.Filter.Topic, Group: body.Filter.Group, ErrorContains: body.Filter.ErrorContains,
		Since: body.Filter.Since, Until: body.Filter.Until, IDs: body.Filter.IDs}
	// Select the letters now: the operation handles these ids, so letters
	// that fail again during a replay come back as new letters and are not
	// replayed by it.
	var ids, guarded []uint64
	var sample []LetterOut
	for after := uint64(0); len(ids)+len(guarded) < limit; {
		page := f
		page.AfterID, page.Limit = after, min(dlqPage, limit-len(ids)-len(guarded))
		ls, err := s.bus.DeadLetters().List(ctx, page)
		if err != nil {
			return nil, s.problem(err)
		}
		for i := range ls {
			if replay && core.ReplayCount(&ls[i]) >= s.cfg.maxReplayCount {
				guarded = append(guarded, ls[i].ID)
				continue
			}
			ids = append(ids, ls[i].ID)
			if len(sample) < 10 {
				sample = append(sample, letterOut(&ls[i], encodingAuto))
			}
		}
		if len(ls) < page.Limit {
			break
		}
		after = ls[len(ls)-1].ID
	}
	out := &dlqActionOutput{}
	if body.DryRun {
		out.Status = stdhttp.StatusOK
		out.Body.DryRun = &DryRunResult{Count: len(ids), Guard: len(guarded), Sample: sample}
		if sample == nil {
			out.Body.DryRun.Sample = []LetterOut{}
		}
		return out, nil
	}
	op := s.startOperation(kind, len(ids), body.Rate, func(ctx context.Context, o *operation) error {
		o.update(func(op *Operation) { op.Skipped = len(guarded) })
		return s.runDLQAction(ctx, o, replay, ids, body)
	})
	out.Status = stdhttp.StatusAccepted
	out.Location = "/v1/operations/" + op.ID
	out.Body.Operation = &op
	return out, nil
}

// runDLQAction replays or purges ids in pages, reporting progress after
// each; a rate spaces the replays over the whole operation.
func (s *Server) runDLQAction(ctx context.Context, o *operation, replay bool, ids []uint64, body *DLQActionBody) error {
	var interval time.Duration
	if replay && body.Rate > 0 {
		interval = time.Duration(float64(time.Second) / body.Rate)
	}
	step := dlqPage
	if interval > 0 {
		step = 1 // one letter at a time, spaced by the rate
	}
	var next time.Time
	for len(ids) > 0 {
		n := min(step, len(ids))
		batch := ids[:n]
		ids = ids[n:]
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
			}
			next = time.Now().Add(interval)
		}
		var done int
		var err error
		f := dlq.Filter{IDs: batch, Limit: dlq.All}
		if replay {
			done, err = s.bus.ReplayDeadLetters(ctx, f, dlq.ReplayOptions{ToGroup: body.ToGroup})
		} else {
			done, err = s.bus.DeadLetters().Purge(ctx, f)
		}
		o.update(func(op *Operation) { op.Done += done })
		if err != nil {
			return err
		}
	}
	return nil
}

// StorageResult answers a storage call.
type StorageResult struct {
	Compacted bool `json:"compacted,omitempty" doc:"Whether compaction rewrote the file (false: the store cannot compact)."`
}

type storageOutput struct{ Body StorageResult }

func (s *Server) registerStorage() {
	huma.Register(s.api, huma.Operation{
		OperationID: "sync-storage", Method: stdhttp.MethodPost, Path: "/v1/storage:sync",
		Summary: "Flush the log to disk", Description: "Returns once everything published so far is durable.",
		Tags: []string{"storage"},
	}, func(ctx context.Context, _ *struct{}) (*storageOutput, error) {
		if err := s.bus.Sync(ctx); err != nil {
			return nil, s.problem(err)
		}
		return &storageOutput{}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "compact-storage", Method: stdhttp.MethodPost, Path: "/v1/storage:compact",
		Summary: "Compact the store (a long-running operation)", Tags: []string{"storage"},
		DefaultStatus: stdhttp.StatusAccepted,
	}, func(ctx context.Context, _ *struct{}) (*operationOutput, error) {
		op := s.startOperation("compact", 1, 0, func(ctx context.Context, o *operation) error {
			_, err := s.bus.Compact(ctx)
			if err == nil {
				o.update(func(op *Operation) { op.Done = 1 })
			}
			return err
		})
		return &operationOutput{Location: "/v1/operations/" + op.ID, Status: stdhttp.StatusAccepted, Body: op}, nil
	})
}
