package wal

import (
	"fmt"
	"math"
	"time"
)

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
	minNanoSec  = minNanoTime.Unix()
	maxNanoSec  = maxNanoTime.Unix()
)

// UnixNano returns t in Unix nanoseconds, the unit of Record.Timestamp,
// or an error wrapping ErrTimestampRange when t is outside what an int64
// of nanoseconds holds (before 1677-09-21 or after 2262-04-11), where
// time.Time.UnixNano would silently overflow.
func UnixNano(t time.Time) (int64, error) {
	// Any time in a whole second strictly inside the range fits: one
	// comparison of seconds, where Before and After on a time with a
	// monotonic reading took about 30 ns of every publish.
	if s := t.Unix(); s > minNanoSec && s < maxNanoSec {
		return t.UnixNano(), nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return 0, fmt.Errorf("%w: %s is outside %s..%s", ErrTimestampRange,
			t.UTC().Format(time.RFC3339), minNanoTime.UTC().Format(time.RFC3339), maxNanoTime.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}
