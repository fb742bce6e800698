package dlq

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Republisher puts a dead letter back on the bus. The bus implements it;
// Replay consumes it.
//
// Implementers:
//   - Republish returns nil only once the message is durably re-published
//     (appended to the log under the bus's durability policy): Replay
//     removes the letter as soon as it returns nil, so a nil that is not
//     durable can lose the message.
//   - toGroup "" means the original topic, for every group subscribed to
//     it; otherwise only consumer group toGroup gets the message.
//   - Keep l.Headers (correlation_id above all) so the re-published
//     message is the same message.
//   - Replay calls Republish from one goroutine, one letter at a time, in
//     increasing id order, and honours nothing but the returned error: on
//     an error it stops. Republish should return promptly once ctx is
//     done, with an error.
//   - l is the implementer's to keep, slices included: Replay does not use
//     it after the call.
type Republisher interface {
	// Republish durably re-publishes l, to every group of l.Topic when
	// toGroup is "", else to group toGroup only; see the type's doc.
	Republish(ctx context.Context, l *Letter, toGroup string) error
}

// ReplayOptions says where and how fast Replay re-publishes.
type ReplayOptions struct {
	// ToGroup, when not empty, re-publishes to this consumer group only;
	// "" re-publishes to the original topic for every group.
	ToGroup string
	// Rate is the most letters re-published per second: 0 means
	// unlimited; otherwise it must be in [MinReplayRate, MaxReplayRate].
	// The first letter goes at once and each next one 1/Rate seconds after
	// the previous one started, so n letters take (n-1)/Rate seconds plus
	// the time of the calls.
	Rate float64
}

// Bounds of ReplayOptions.Rate (besides 0, unlimited).
const (
	MinReplayRate = 0.001 // one letter per 1,000 seconds
	MaxReplayRate = 1e9
)

func (o *ReplayOptions) interval() (time.Duration, error) {
	switch {
	case o.Rate == 0:
		return 0, nil
	case math.IsNaN(o.Rate) || o.Rate < MinReplayRate || o.Rate > MaxReplayRate:
		return 0, fmt.Errorf("%w: replay rate %v not 0 or in [%v, %v]", ErrInvalidOption, o.Rate, MinReplayRate, MaxReplayRate)
	}
	return time.Duration(float64(time.Second) / o.Rate), nil
}

// Replay re-publishes the letters matching f through to, oldest first, at
// most f.Limit of them (0 replays none), and returns how many it
// re-published. Each letter is removed only after Republish returned nil,
// so a crash in between re-publishes it again on the next replay rather
// than losing it: replay is at-least-once. The removal runs even if ctx
// is done by then. Letters added after Replay started (a replayed message
// that fails again comes back as a new letter) are not replayed by this
// call, and a letter removed by someone else before its turn is skipped.
//
// Replay stops at the first Republish error and returns the count so far
// and that error, wrapped with the letter's id; the letter stays queued.
// If the removal after a successful Republish fails, the letter was
// re-published (and is counted) but stays queued, and Replay returns the
// store's error. Replays on one Queue run one at a time; a second waits
// (or returns when ctx is done). It returns an error wrapping
// ErrInvalidFilter or ErrInvalidOption for bad arguments, and ctx's error
// when ctx is done while it waits.
func (q *Queue) Replay(ctx context.Context, f Filter, to Republisher, opts ReplayOptions) (int, error) {
	if err := f.validate(); err != nil {
		return 0, fmt.Errorf("dlq: replay: %w", err)
	}
	if to == nil {
		return 0, fmt.Errorf("dlq: replay: %w: nil Republisher", ErrInvalidOption)
	}
	interval, err := opts.interval()
	if err != nil {
		return 0, fmt.Errorf("dlq: replay: %w", err)
	}
	if f.Limit == 0 {
		return 0, nil
	}
	select {
	case q.replaySem <- struct{}{}:
		defer func() { <-q.replaySem }()
	case <-ctx.Done():
		return 0, fmt.Errorf("dlq: replay: waiting for another replay: %w", ctx.Err())
	}

	var (
		n, seen int
		last    time.Time // when the previous Republish started
		timer   *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	err = q.walk(ctx, &f, true, func(id uint64, l *Letter) (bool, error) {
		seen++
		if interval > 0 && !last.IsZero() {
			if wait := time.Until(last.Add(interval)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return false, fmt.Errorf("waiting to replay letter %d: %w", id, ctx.Err())
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("before letter %d: %w", id, err)
		}
		held, err := q.holds(id)
		if err != nil {
			return false, fmt.Errorf("letter %d: %w", id, err)
		}
		if !held {
			return seen < f.Limit, nil
		}
		last = time.Now()
		letter := *l // the walk reuses *l; the Republisher may keep its copy
		if err := to.Republish(ctx, &letter, opts.ToGroup); err != nil {
			return false, fmt.Errorf("republish letter %d: %w", id, err)
		}
		n++
		// Removed even if ctx is done now: the letter is re-published, so
		// keeping it would only re-publish it again.
		if _, err := q.remove([]uint64{id}); err != nil {
			return false, fmt.Errorf("letter %d re-published but not removed (a later replay re-publishes it again): %w", id, err)
		}
		return seen < f.Limit, nil
	})
	if err != nil {
		return n, fmt.Errorf("dlq: replay (%d re-published): %w", n, err)
	}
	return n, nil
}

// holds reports whether letter id is still queued.
func (q *Queue) holds(id uint64) (bool, error) {
	var held bool
	err := q.st.View(func(tx store.Tx) error {
		if b := tx.Bucket(bucketLetters); b != nil {
			held = b.Get(idKey(id)) != nil
		}
		return nil
	})
	return held, err
}
