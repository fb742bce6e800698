package broker

import "sync"

// budget is the global allowance of in-flight request bytes (Kafka's
// queued.max.request.bytes): a connection takes a frame's size before
// reading its body and gives it back once the response is written.
type budget struct {
	mu    sync.Mutex    // protects used and freed
	used  int64         // bytes taken
	max   int64         // immutable
	freed chan struct{} // closed and replaced on every release
}

func newBudget(max int64) *budget { return &budget{max: max, freed: make(chan struct{})} }

// acquire takes n bytes, waiting for room; it gives up (false) when stop
// is closed. A request larger than the whole budget still goes through
// when nothing else is held, so no frame the limits allow can starve.
func (b *budget) acquire(stop <-chan struct{}, n int64) bool {
	for {
		b.mu.Lock()
		if b.used+n <= b.max || b.used == 0 {
			b.used += n
			b.mu.Unlock()
			return true
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
