package dlq

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultMaxErrorLen is the default cap, in bytes, of a letter's Error.
const DefaultMaxErrorLen = 500

// Bounds of WithMaxErrorLen.
const (
	MinMaxErrorLen = 64
	MaxMaxErrorLen = 1 << 20
)

type config struct {
	logger      hclog.Logger
	maxErrorLen int
	now         func() time.Time
}

func defaultConfig() config {
	return config{
		logger:      hclog.NewNullLogger(),
		maxErrorLen: DefaultMaxErrorLen,
		now:         time.Now,
	}
}

func (c *config) validate() error {
	var errs []error
	if c.maxErrorLen < MinMaxErrorLen || c.maxErrorLen > MaxMaxErrorLen {
		errs = append(errs, fmt.Errorf("max error length %d not in [%d, %d]", c.maxErrorLen, MinMaxErrorLen, MaxMaxErrorLen))
	}
	if c.now == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOption, errors.Join(errs...))
	}
	return nil
}

// Option configures Open.
type Option func(*config)

// WithLogger sets the logger (warnings about repaired metadata); nil
// discards, as does the default.
func WithLogger(l hclog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = hclog.NewNullLogger()
		}
		c.logger = l
	}
}

// WithMaxErrorLen caps, in bytes, the error text Add stores (default
// DefaultMaxErrorLen, allowed [MinMaxErrorLen, MaxMaxErrorLen]); see
// CapError.
func WithMaxErrorLen(n int) Option { return func(c *config) { c.maxErrorLen = n } }

// WithClock sets the clock Add uses for DeadLetteredAt when the letter has
// none (default time.Now). Replay's rate limit uses real timers, not this
// clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
