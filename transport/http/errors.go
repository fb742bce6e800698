package http

import (
	"context"
	"errors"
	"fmt"
	stdhttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/wal"
)

// Errors returned by New and by the Server's methods.
var (
	// ErrInvalidOption is returned by New for an option out of range.
	ErrInvalidOption = errors.New("http: invalid option")
	// ErrClosed is returned once Close has begun.
	ErrClosed = errors.New("http: server is closed")
	// ErrLeaseExpired is the handler error of a leased delivery not acked
	// before its lease ran out: it counts as a failed attempt.
	ErrLeaseExpired = errors.New("http: lease expired before an ack")
)

// Problem is an RFC 9457 problem: the body of every error response, as
// application/problem+json. Code is stable and meant for programs;
// Retryable says whether the same request may succeed later.
type Problem struct {
	Type      string              `json:"type,omitempty" doc:"A relative URI naming the problem type, /problems/<code>."`
	Title     string              `json:"title,omitempty" doc:"A short summary of the problem type."`
	Status    int                 `json:"status,omitempty" doc:"The HTTP status code."`
	Detail    string              `json:"detail,omitempty" doc:"What went wrong this time."`
	Instance  string              `json:"instance,omitempty" doc:"The request path."`
	Code      string              `json:"code" doc:"A stable snake_case identifier of the problem."`
	Retryable bool                `json:"retryable" doc:"Whether the same request may succeed later."`
	Errors    []*huma.ErrorDetail `json:"errors,omitempty" doc:"Individual validation errors."`

	retryAfter time.Duration
}

// Error returns the problem's detail.
func (p *Problem) Error() string { return p.Detail }

// GetStatus returns the HTTP status of the problem.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes problems application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// GetHeaders gives 429 and 503 problems their Retry-After.
func (p *Problem) GetHeaders() stdhttp.Header {
	h := stdhttp.Header{}
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	return h
}

func init() {
	// huma builds its own errors (validation, unknown routes, bodies too
	// large) through NewError: make them problems with codes too.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		p := newProblem(status, statusCode(status), msg)
		for _, e := range errs {
			if e == nil {
				continue
			}
			var d huma.ErrorDetailer
			if errors.As(e, &d) {
				p.Errors = append(p.Errors, d.ErrorDetail())
			} else {
				p.Errors = append(p.Errors, &huma.ErrorDetail{Message: e.Error()})
			}
		}
		return p
	}
}

func newProblem(status int, code, detail string) *Problem {
	p := &Problem{
		Type:   "/problems/" + strings.ReplaceAll(code, "_", "-"),
		Title:  stdhttp.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
	if status == stdhttp.StatusTooManyRequests || status == stdhttp.StatusServiceUnavailable {
		p.Retryable = true
		p.retryAfter = time.Second
	}
	return p
}

// statusCode is the code of a problem that only has a status.
func statusCode(status int) string {
	switch status {
	case stdhttp.StatusBadRequest:
		return "bad_request"
	case stdhttp.StatusUnauthorized:
		return "unauthenticated"
	case stdhttp.StatusForbidden:
		return "forbidden"
	case stdhttp.StatusNotFound:
		return "not_found"
	case stdhttp.StatusMethodNotAllowed:
		return "method_not_allowed"
	case stdhttp.StatusConflict:
		return "conflict"
	case stdhttp.StatusRequestEntityTooLarge:
		return "request_too_large"
	case stdhttp.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case stdhttp.StatusUnprocessableEntity:
		return "validation_failed"
	case stdhttp.StatusTooManyRequests:
		return "rate_limited"
	case stdhttp.StatusServiceUnavailable:
		return "unavailable"
	case stdhttp.StatusGatewayTimeout:
		return "timeout"
	}
	return "internal"
}

// problemf is a problem with a code and a formatted detail.
func problemf(status int, code, format string, args ...any) *Problem {
	return newProblem(status, code, fmt.Sprintf(format, args...))
}

// retryableError is what a publish gate (the Kafka forwarder's backlog
// budget, for one) returns when the same publish may succeed later.
type retryableError interface{ Temporary() bool }

// toProblem maps an engine error to the problem a client sees.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var tmp retryableError
	switch {
	case errors.Is(err, core.ErrClosed), errors.Is(err, ErrClosed):
		return newProblem(stdhttp.StatusServiceUnavailable, "closed", err.Error())
	case errors.Is(err, core.ErrNotONEXTopic):
		return newProblem(stdhttp.StatusUnprocessableEntity, "not_onex_topic", err.Error())
	case errors.Is(err, core.ErrInvalidTopic):
		return newProblem(stdhttp.StatusBadRequest, "invalid_topic", err.Error())
	case errors.Is(err, core.ErrInvalidPattern):
		return newProblem(stdhttp.StatusBadRequest, "invalid_pattern", err.Error())
	case errors.Is(err, core.ErrUnknownTopic):
		return newProblem(stdhttp.StatusNotFound, "topic_not_found", err.Error())
	case errors.Is(err, core.ErrInvalidPartition):
		return newProblem(stdhttp.StatusBadRequest, "invalid_partition", err.Error())
	case errors.Is(err, core.ErrMessageTooLarge):
		return newProblem(stdhttp.StatusRequestEntityTooLarge, "message_too_large", err.Error())
	case errors.Is(err, core.ErrInvalidHeaders):
		return newProblem(stdhttp.StatusBadRequest, "invalid_headers", err.Error())
	case errors.Is(err, core.ErrInvalidGroup):
		return newProblem(stdhttp.StatusBadRequest, "invalid_group", err.Error())
	case errors.Is(err, core.ErrInvalidLimit):
		return newProblem(stdhttp.StatusBadRequest, "invalid_limit", err.Error())
	case errors.Is(err, core.ErrInvalidConfig), errors.Is(err, wal.ErrInvalidTopicConfig):
		return newProblem(stdhttp.StatusBadRequest, "invalid_config", err.Error())
	case errors.Is(err, dlq.ErrInvalidFilter), errors.Is(err, dlq.ErrInvalidOption):
		return newProblem(stdhttp.StatusBadRequest, "invalid_filter", err.Error())
	case errors.Is(err, dlq.ErrNotFound):
		return newProblem(stdhttp.StatusNotFound, "letter_not_found", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newProblem(stdhttp.StatusGatewayTimeout, "timeout", err.Error())
	case errors.Is(err, context.Canceled):
		return newProblem(stdhttp.StatusServiceUnavailable, "cancelled", err.Error())
	case errors.As(err, &tmp) && tmp.Temporary():
		return newProblem(stdhttp.StatusServiceUnavailable, "backlog_full", err.Error())
	}
	return newProblem(stdhttp.StatusInternalServerError, "internal", err.Error())
}
