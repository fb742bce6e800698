package wal

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
)

// parkOneAppend has one append park in p's pending list behind the
// test's token, then takes the token back and hands it over, so the
// append's request (pooled) is used, parked on and put back.
func parkOneAppend(t *testing.T, l *Log, p *partition) {
	t.Helper()
	holdToken(t, p)
	a := goAppend(l, "a")
	waitPending(t, p, 1)
	if l.leaveCombiner(p) {
		t.Fatal("the token taken back with a request pending")
	}
	if r := testutil.Receive(t, a, 5*time.Second); r.err != nil {
		t.Fatal(r.err)
	}
}

// A pooled append request carries no channel from an earlier use: an
// append that parked inside a testing/synctest bubble leaves its request
// in the pool, and an append outside the bubble that gets it and parks
// must not wait on the bubble's channel (the runtime stops the process:
// "receive on synctest channel from outside bubble"). Each park makes
// its own channel.
func TestAppendParksOnItsOwnChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, p := openCombineLog(t, PolicyNone)
		parkOneAppend(t, l, p)
	})
	l, p := openCombineLog(t, PolicyNone)
	for range 4 { // the pool may drop a Put (it does at random under -race)
		parkOneAppend(t, l, p)
	}
	if r := reqPool.Get().(*appendReq); r.wake != nil {
		t.Fatal("a pooled request keeps its wake channel")
	}
}
