package core

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The bus's default clock follows time.Now: each reading lies between a
// time.Now taken before it and one taken after, readings never go back
// within a base period, and each carries a monotonic reading.
func TestWallClockFollowsTimeNow(t *testing.T) {
	var c wallClock
	prev := c.now()
	for i := range 10_000 {
		before := time.Now()
		got := c.now()
		after := time.Now()
		// The wall reading may lag a slewing system clock by the slew of
		// one resync period; allow that much (500 ppm of it).
		slack := clockResync / 2000
		if got.Before(before.Add(-slack)) || got.After(after.Add(slack)) {
			t.Fatalf("reading %d: %v not within [%v, %v]", i, got, before, after)
		}
		if !strings.Contains(got.String(), " m=") { // String shows a monotonic reading as m=±s
			t.Fatalf("reading %d carries no monotonic reading", i)
		}
		if got.Sub(prev) < 0 {
			t.Fatalf("reading %d went back: %v after %v", i, got, prev)
		}
		prev = got
	}
}

// A base older than the resync period is read again from time.Now, so a
// step of the system clock shows within that period; in a synctest
// bubble the clock is the bubble's.
func TestWallClockResyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c wallClock
		first := c.now()
		base := c.base.Load()
		if base == nil || !base.Equal(first) {
			t.Fatalf("first reading %v did not become the base %v", first, base)
		}
		time.Sleep(clockResync / 2)
		if c.now(); c.base.Load() != base {
			t.Fatal("the base was read again inside the resync period")
		}
		time.Sleep(clockResync)
		got := c.now()
		if c.base.Load() == base {
			t.Fatal("the base was not read again after the resync period")
		}
		if want := time.Now(); !got.Equal(want) {
			t.Fatalf("after resync the clock reads %v, time.Now %v", got, want)
		}
	})
}

// The default clock is the bus's wallClock; WithClock replaces it.
func TestDefaultClockIsTheWallClock(t *testing.T) {
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	cfg := defaultConfig()
	WithClock(func() time.Time { return fixed })(&cfg)
	if got := cfg.now(); !got.Equal(fixed) {
		t.Fatalf("WithClock's clock reads %v, want %v", got, fixed)
	}
	cfg = defaultConfig()
	if got := cfg.now(); time.Since(got) < 0 || time.Since(got) > time.Minute {
		t.Fatalf("the default clock reads %v, now is %v", got, time.Now())
	}
	// A method value's func is the method's wrapper, whatever the
	// receiver: the default is some wallClock's now, not time.Now.
	if got, want := reflect.ValueOf(cfg.now).Pointer(), reflect.ValueOf(new(wallClock).now).Pointer(); got != want {
		t.Fatalf("the default clock is %s, not a wallClock's now", runtime.FuncForPC(got).Name())
	}
}
