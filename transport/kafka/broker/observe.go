package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestObserver is told of every request the broker answered: its API
// (Kafka's name for the key, e.g. "Produce") and the time from its
// arrival to its response (long polls and fsync waits included). It is
// told just before the response is sent, so a client holding its answer
// finds it counted. It runs on the goroutine that answered, without the
// broker's locks: it must be quick.
type RequestObserver func(api string, d time.Duration)

// WithRequestObserver reports every answered request to o (metrics).
func WithRequestObserver(o RequestObserver) Option { return func(c *config) { c.observer = o } }

// observed wraps reply so that the observer learns the request's
// duration; without an observer it is reply itself.
func (s *Server) observed(key int16, reply func(kmsg.Response)) func(kmsg.Response) {
	o := s.cfg.observer
	if o == nil {
		return reply
	}
	start := time.Now()
	api := kmsg.NameForKey(key)
	return func(r kmsg.Response) {
		// Observed before the reply goes out: a client that reads the
		// metrics once it has its answer finds the request counted.
		o(api, time.Since(start))
		reply(r)
	}
}
