package auth

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// maxTracked bounds the buckets a RateLimiter keeps for principals it was
// not told about with Track: the least recently seen are dropped first
// (and start full when they come back).
const maxTracked = 4096

// RateLimiter limits requests per principal with one token bucket each:
// perSecond tokens a second, up to burst. Its memory is bounded: the
// principals named with Track (the configured users) keep their buckets,
// any other principal gets one from an LRU of at most 4096, so a flood
// of made-up names cannot grow it. A nil *RateLimiter allows everything.
// Its methods are safe for concurrent use.
//
// Two ways to charge a request:
//   - Reserve (HTTP): take a token if there is one, else take nothing and
//     say how long until there is; the caller refuses the request (429,
//     Retry-After) and a client that waits that long is let in.
//   - Take (Kafka, KIP-219): always take the token, going into debt, and
//     say how long until the debt is paid; the caller executes the
//     request, answers with that throttle time and mutes the connection
//     meanwhile. The debt is capped at burst tokens, so the longest
//     throttle is (burst+1)/perSecond.
type RateLimiter struct {
	rate  float64 // tokens a second; 0: unlimited
	burst float64
	now   func() time.Time

	mu     sync.Mutex               // protects pinned, others, lru
	pinned map[string]*bucket       // Track'ed principals
	others map[string]*list.Element // LRU of the rest; values are *lruEntry
	lru    *list.List               // front: most recently used
	maxLRU int
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

type lruEntry struct {
	name string
	b    bucket
}

// NewRateLimiter returns a limiter allowing each principal perSecond
// requests a second with bursts of burst. perSecond <= 0 (or not a finite
// number) means no limit: every call returns 0. A burst below 1 is 1.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	l := &RateLimiter{rate: perSecond, burst: float64(max(burst, 1)), now: time.Now,
		pinned: map[string]*bucket{}, others: map[string]*list.Element{}, lru: list.New(), maxLRU: maxTracked}
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		l.rate = 0
	}
	return l
}

// Track sets the principals whose buckets are always kept (the
// configured users; call it again after a reload). A principal dropped
// from the set moves to the LRU with its bucket.
func (l *RateLimiter) Track(principals ...string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := make(map[string]*bucket, len(principals))
	for _, p := range principals {
		if b, ok := l.pinned[p]; ok {
			keep[p] = b
		} else if e, ok := l.others[p]; ok {
			b := e.Value.(*lruEntry).b
			keep[p] = &b
			l.lru.Remove(e)
			delete(l.others, p)
		} else {
			keep[p] = &bucket{tokens: l.burst, at: l.now()}
		}
	}
	for p, b := range l.pinned {
		if _, ok := keep[p]; !ok {
			l.putOtherLocked(p, *b)
		}
	}
	l.pinned = keep
}

// Reserve takes one token from principal's bucket and returns 0 if there
// was one; otherwise it takes nothing and returns how long until a token
// is there (the request is refused: HTTP answers 429 with Retry-After).
func (l *RateLimiter) Reserve(principal string) (delay time.Duration) {
	if l == nil || l.rate == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(principal)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return l.wait(1 - b.tokens)
}

// Take charges one request to principal's bucket whatever its balance
// (down to a debt of burst tokens) and returns how long until the
// balance is back to zero: 0 while the principal is within its rate. The
// Kafka broker executes the request, answers with that throttle time and
// reads nothing more from the connection until it has passed (KIP-219).
func (l *RateLimiter) Take(principal string) (throttle time.Duration) {
	if l == nil || l.rate == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(principal)
	b.tokens = max(b.tokens-1, -l.burst)
	if b.tokens >= 0 {
		return 0
	}
	return l.wait(-b.tokens)
}

// wait is the time perSecond takes to earn tokens, rounded up to a
// millisecond so a throttle is never reported as 0 ms.
func (l *RateLimiter) wait(tokens float64) time.Duration {
	d := time.Duration(math.Ceil(tokens / l.rate * float64(time.Second)))
	return max(d.Round(time.Millisecond), time.Millisecond)
}

// bucketLocked returns principal's bucket brought up to date.
func (l *RateLimiter) bucketLocked(principal string) *bucket {
	now := l.now()
	b, ok := l.pinned[principal]
	if !ok {
		if e, found := l.others[principal]; found {
			l.lru.MoveToFront(e)
			b = &e.Value.(*lruEntry).b
		} else {
			b = l.putOtherLocked(principal, bucket{tokens: l.burst, at: now})
		}
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(b.tokens+el.Seconds()*l.rate, l.burst)
		b.at = now
	}
	return b
}

// putOtherLocked adds principal to the LRU, dropping the least recently
// used entry when it is full.
func (l *RateLimiter) putOtherLocked(principal string, b bucket) *bucket {
	if l.lru.Len() >= l.maxLRU {
		if old := l.lru.Back(); old != nil {
			l.lru.Remove(old)
			delete(l.others, old.Value.(*lruEntry).name)
		}
	}
	e := l.lru.PushFront(&lruEntry{name: principal, b: b})
	l.others[principal] = e
	return &e.Value.(*lruEntry).b
}

// tracked is the number of buckets held (tests: the memory bound).
func (l *RateLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pinned) + l.lru.Len()
}
