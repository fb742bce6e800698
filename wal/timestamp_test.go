package wal

import (
	"errors"
	"math"
	"testing"
	"time"
)

// UnixNano takes every time an int64 of nanoseconds holds, up to both
// ends and in the seconds of the ends, and refuses the nanosecond past
// either end.
func TestUnixNanoRange(t *testing.T) {
	ok := []time.Time{
		time.Unix(0, math.MinInt64), time.Unix(0, math.MinInt64+1), time.Unix(0, math.MinInt64+999_999_999),
		time.Unix(0, math.MaxInt64), time.Unix(0, math.MaxInt64-1), time.Unix(0, math.MaxInt64-999_999_999),
		time.Unix(0, 0), time.Now(), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, ts := range ok {
		if n, err := UnixNano(ts); err != nil || n != ts.UnixNano() {
			t.Errorf("%v: %d, %v; want %d", ts, n, err, ts.UnixNano())
		}
	}
	bad := []time.Time{
		time.Unix(0, math.MinInt64).Add(-1), time.Unix(0, math.MaxInt64).Add(1),
		time.Unix(0, math.MinInt64).Add(-time.Second), time.Unix(0, math.MaxInt64).Add(time.Second),
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, ts := range bad {
		if _, err := UnixNano(ts); !errors.Is(err, ErrTimestampRange) {
			t.Errorf("%v: %v, want ErrTimestampRange", ts, err)
		}
	}
}
