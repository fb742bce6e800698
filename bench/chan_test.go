package bench

import (
	"context"
	"errors"
	"sync"
)

// chanBuffer is the bare channel's buffer, as in the study that set the
// memory bus's target (10% of a channel buffered by 1,024).
const chanBuffer = 1024

// chanInstance is a bare buffered Go channel with one receiving
// goroutine: the floor of any in-process bus (no storage, no ids, no
// acknowledgement), and, run through the open-loop scheduler, the floor
// of the scheduler itself.
type chanInstance struct {
	ch     chan []byte
	wg     sync.WaitGroup
	closed bool
	mu     sync.Mutex
}

func openChan(_ context.Context, _ string, handled func([]byte)) (instance, error) {
	c := &chanInstance{ch: make(chan []byte, chanBuffer)}
	c.wg.Go(func() {
		for p := range c.ch {
			if handled != nil {
				handled(p)
			}
		}
	})
	return c, nil
}

var errChanClosed = errors.New("bench: channel instance closed")

func (c *chanInstance) publish(ctx context.Context, payload []byte) error {
	select {
	case c.ch <- payload:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *chanInstance) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errChanClosed
	}
	c.closed = true
	close(c.ch)
	c.wg.Wait()
	return nil
}
