package http

import (
	"context"
	stdhttp "net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Operation is a long-running operation (a dead-letter replay or purge, a
// compaction) with its progress.
type Operation struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind" enum:"dlq_replay,dlq_purge,compact"`
	Status     string     `json:"status" enum:"running,succeeded,failed,cancelled"`
	Total      int        `json:"total" doc:"Items the operation will handle, counted when it started."`
	Done       int        `json:"done" doc:"Items handled so far."`
	Skipped    int        `json:"skipped,omitempty" doc:"Items left alone (a replay's loop guard)."`
	Rate       float64    `json:"rate,omitempty" doc:"Items per second asked for; 0 is unlimited."`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ETASeconds float64    `json:"eta_seconds,omitempty" doc:"Estimated seconds to finish, from the rate so far."`
	Error      *Problem   `json:"error,omitempty"`
}

// operation is one operation's state; its cancel ends its work.
type operation struct {
	mu      sync.Mutex // protects op and changed
	op      Operation
	changed chan struct{} // closed and replaced on every change
	cancel  context.CancelFunc
}

func (o *operation) snapshot() (Operation, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op := o.op
	if op.Status == "running" && op.Done > 0 && op.Total > op.Done {
		elapsed := time.Since(op.StartedAt).Seconds()
		op.ETASeconds = elapsed / float64(op.Done) * float64(op.Total-op.Done)
	}
	return op, o.changed
}

// update changes the operation under its lock and wakes its watchers.
func (o *operation) update(fn func(*Operation)) {
	o.mu.Lock()
	fn(&o.op)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

// finish records how the operation ended.
func (o *operation) finish(err error, cancelled bool) {
	o.update(func(op *Operation) {
		now := time.Now().UTC()
		op.FinishedAt = &now
		switch {
		case cancelled:
			op.Status = "cancelled"
		case err != nil:
			op.Status = "failed"
			op.Error = toProblem(err)
		default:
			op.Status = "succeeded"
		}
	})
}

// operations keeps the running operations and the last finished ones.
type operations struct {
	mu    sync.Mutex // protects all, order and next
	all   map[string]*operation
	order []string // ids, oldest first
	next  uint64
	keep  int // finished operations kept
}

func newOperations(keep int) *operations {
	return &operations{all: map[string]*operation{}, keep: keep}
}

// start registers an operation of kind and runs work in a goroutine that
// s owns; work reports progress through the operation.
func (s *Server) startOperation(kind string, total int, rate float64, work func(ctx context.Context, o *operation) error) Operation {
	ops := s.ops
	ctx, cancel := context.WithCancel(s.ctx)
	ops.mu.Lock()
	ops.next++
	id := strconv.FormatUint(ops.next, 10)
	o := &operation{
		op:      Operation{ID: id, Kind: kind, Status: "running", Total: total, Rate: rate, StartedAt: time.Now().UTC()},
		changed: make(chan struct{}),
		cancel:  cancel,
	}
	ops.all[id] = o
	ops.order = append(ops.order, id)
	ops.pruneLocked()
	ops.mu.Unlock()
	s.wg.Go(func() {
		defer cancel()
		err := work(ctx, o)
		o.finish(err, ctx.Err() != nil && s.ctx.Err() == nil)
	})
	snap, _ := o.snapshot()
	return snap
}

// pruneLocked forgets the oldest finished operations beyond keep.
func (ops *operations) pruneLocked() {
	finished := 0
	for _, id := range ops.order {
		if st, _ := ops.all[id].snapshot(); st.Status != "running" {
			finished++
		}
	}
	for i := 0; i < len(ops.order) && finished > ops.keep; {
		id := ops.order[i]
		if st, _ := ops.all[id].snapshot(); st.Status != "running" {
			delete(ops.all, id)
			ops.order = append(ops.order[:i], ops.order[i+1:]...)
			finished--
			continue
		}
		i++
	}
}

func (ops *operations) get(id string) (*operation, error) {
	ops.mu.Lock()
	defer ops.mu.Unlock()
	o := ops.all[id]
	if o == nil {
		return nil, problemf(stdhttp.StatusNotFound, "operation_not_found", "no operation %q (finished operations are kept for a while)", id)
	}
	return o, nil
}

func (ops *operations) list() []Operation {
	ops.mu.Lock()
	defer ops.mu.Unlock()
	out := make([]Operation, 0, len(ops.order))
	for _, id := range ops.order {
		st, _ := ops.all[id].snapshot()
		out = append(out, st)
	}
	return out
}

// OperationList lists operations, oldest first.
type OperationList struct {
	Operations []Operation `json:"operations"`
}

type operationInput struct {
	ID string `path:"id"`
}

type operationOutput struct {
	Location string `header:"Location"`
	Status   int
	Body     Operation
}

type operationListOutput struct{ Body OperationList }

func (s *Server) registerOperations() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-operations", Method: stdhttp.MethodGet, Path: "/v1/operations",
		Summary: "List long-running operations", Tags: []string{"operations"},
	}, func(ctx context.Context, _ *struct{}) (*operationListOutput, error) {
		return &operationListOutput{Body: OperationList{Operations: s.ops.list()}}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "get-operation", Method: stdhttp.MethodGet, Path: "/v1/operations/{id}",
		Summary: "An operation's progress", Tags: []string{"operations"},
	}, func(ctx context.Context, in *operationInput) (*operationOutput, error) {
		o, err := s.ops.get(in.ID)
		if err != nil {
			return nil, err
		}
		st, _ := o.snapshot()
		return &operationOutput{Status: stdhttp.StatusOK, Body: st}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "cancel-operation", Method: stdhttp.MethodPost, Path: "/v1/operations/{id}/cancel",
		Summary: "Cancel an operation", Description: "What it did so far stays done; the operation ends as cancelled.",
		Tags: []string{"operations"},
	}, func(ctx context.Context, in *operationInput) (*operationOutput, error) {
		o, err := s.ops.get(in.ID)
		if err != nil {
			return nil, err
		}
		o.cancel()
		st, changed := o.snapshot()
		for st.Status == "running" {
			select {
			case <-changed:
			case <-ctx.Done():
				return nil, s.problem(ctx.Err())
			}
			st, changed = o.snapshot()
		}
		return &operationOutput{Status: stdhttp.StatusOK, Body: st}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "operation-events", Method: stdhttp.MethodGet, Path: "/v1/operations/{id}/events",
		Summary:     "An operation's progress as it happens (SSE)",
		Description: "A `progress` event on every change; the stream ends after the final one.",
		Tags:        []string{"operations"},
		Responses:   sseResponses(s.api, map[string]reflect.Type{"progress": reflect.TypeFor[Operation]()}),
	}, func(ctx context.Context, in *operationInput) (*huma.StreamResponse, error) {
		o, err := s.ops.get(in.ID)
		if err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			w := startSSE(hctx)
			ctx := hctx.Context()
			keep, stop := ticker(s.cfg.keepAlive)
			defer stop()
			for {
				st, changed := o.snapshot()
				if err := w.event("", "progress", st); err != nil || st.Status != "running" {
					return
				}
				select {
				case <-changed:
				case <-keep:
					if err := w.keepAlive(); err != nil {
						return
					}
				case <-ctx.Done():
					return
				case <-s.ctx.Done():
					return
				}
			}
		}}, nil
	})
}
