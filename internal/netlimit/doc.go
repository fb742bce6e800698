// Package netlimit caps the connections a listener holds: in total and
// per client address (the IP, whatever the port). Listen wraps a
// net.Listener; a connection over either cap is closed as soon as it is
// accepted, and the refusals are logged at most once a second per
// listener (with the count of those not logged), so a flood of
// connections cannot flood the log. The Kafka broker and onexbusd's HTTP
// and admin listeners use it.
//
// Memory is bounded by the connections held: one counter per client
// address with an open connection, removed when its last connection
// closes.
package netlimit
