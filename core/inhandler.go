package core

import (
	"runtime"
	"sync/atomic"
)

// Close and Unsubscribe called from inside a handler must not wait for
// that very handler: it cannot return while they wait. A context derived
// from the handler's tells them so, but a handler may pass
// context.Background(). So the goroutines that call handlers (a
// sequential loop's, a parallel loop's workers) register here, and each
// says which subscription it is calling; Close and Unsubscribe look up
// the goroutine they run on.

// handlerSlot is one goroutine that calls handlers.
type handlerSlot struct {
	calling atomic.Pointer[Subscription] // whose handler runs now, or nil
}

// enterHandlerGoroutine registers the calling goroutine as one that calls
// handlers; leaveHandlerGoroutine undoes it.
func (b *Bus) enterHandlerGoroutine() *handlerSlot {
	s := &handlerSlot{}
	b.handlerGoroutines.Store(goid(), s)
	return s
}

func (b *Bus) leaveHandlerGoroutine(s *handlerSlot) {
	b.handlerGoroutines.Delete(goid())
	s.calling.Store(nil)
}

// callerSlot returns the slot of the calling goroutine when it is one of
// the bus's handler goroutines.
func (b *Bus) callerSlot() (*handlerSlot, bool) {
	v, ok := b.handlerGoroutines.Load(goid())
	if !ok {
		return nil, false
	}
	return v.(*handlerSlot), true
}

// goid returns the id of the calling goroutine, read from the first line
// of its stack trace ("goroutine 42 [running]:"). The runtime offers no
// other way; it costs about a microsecond, paid once per handler
// goroutine and once per Close or Unsubscribe.
func goid() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	var id uint64
	for _, c := range buf[min(len(prefix), n):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
