package daemon

import (
	"github.com/onexbus/onexbus/transport/kafka"
)

// upstreamText returns the value of variable env in c, in the text form
// transport/kafka parses (for the defaults column and `config print`).
func upstreamText(c kafka.Config, env string) string {
	v, _ := c.Value(env)
	return v
}
