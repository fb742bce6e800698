package checker

import (
	"sync"
	"time"
)

// Kind is the kind of a history event.
type Kind uint8

// Event kinds.
const (
	// Invoke: a producer is about to publish Value under Key.
	Invoke Kind = iota + 1
	// Ack: the publish of Value returned success at Topic/Partition/Offset.
	Ack
	// Fail: the publish of Value returned an error; its outcome is unknown
	// (it may be stored, once).
	Fail
	// Deliver: a consumer session in Group received Value at
	// Topic/Partition/Offset.
	Deliver
	// Commit: Group committed its cursor of Topic/Partition to Offset (the
	// next offset it will read).
	Commit
)

// Event is one entry of a history.
type Event struct {
	Kind      Kind
	Time      time.Time
	Client    string // producer name, or consumer session
	Group     string
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     string
	Err       string
}

// Record is one record of the final read of a partition.
type Record struct {
	Offset int64
	Key    string
	Value  string
}

type tp struct {
	topic string
	part  int32
}

// History is a concurrent log of a workload's events. The zero value is
// ready to use.
type History struct {
	mu     sync.Mutex // protects the fields below
	events []Event
	final  map[tp][]Record
	// start is each final read's first offset: retention removed what
	// lies below it, which is not a lost write.
	start map[tp]int64
	// drained lists the groups that consumed the log to its end at the
	// final read: every acknowledged value must have been delivered to
	// each of them.
	drained []string
}

func (h *History) add(e Event) {
	e.Time = time.Now()
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// Invoke records that producer is about to publish value under key.
// Values must be unique across the history.
func (h *History) Invoke(producer, topic, key, value string) {
	h.add(Event{Kind: Invoke, Client: producer, Topic: topic, Key: key, Value: value})
}

// Ack records that the publish of value succeeded at topic/part/off.
func (h *History) Ack(producer, topic string, part int32, off int64, key, value string) {
	h.add(Event{Kind: Ack, Client: producer, Topic: topic, Partition: part, Offset: off, Key: key, Value: value})
}

// Fail records that the publish of value failed with err (unknown outcome).
func (h *History) Fail(producer, topic, key, value string, err error) {
	e := Event{Kind: Fail, Client: producer, Topic: topic, Key: key, Value: value}
	if err != nil {
		e.Err = err.Error()
	}
	h.add(e)
}

// Deliver records that session (one consumer's life) of group received
// value at topic/part/off.
func (h *History) Deliver(session, group, topic string, part int32, off int64, key, value string) {
	h.add(Event{Kind: Deliver, Client: session, Group: group, Topic: topic, Partition: part, Offset: off, Key: key, Value: value})
}

// Commit records that group's cursor of topic/part is durably at off.
func (h *History) Commit(group, topic string, part int32, off int64) {
	h.add(Event{Kind: Commit, Group: group, Topic: topic, Partition: part, Offset: off})
}

// Final records the final read of topic/part after the workload: every
// record from the partition's start to its end, in offset order.
func (h *History) Final(topic string, part int32, recs []Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.final == nil {
		h.final = map[tp][]Record{}
	}
	h.final[tp{topic, part}] = append(h.final[tp{topic, part}], recs...)
}

// FinalFrom is Final for a partition whose log starts at start
// (retention removed the records below it): values acknowledged below
// start are not counted as lost.
func (h *History) FinalFrom(topic string, part int32, start int64, recs []Record) {
	h.Final(topic, part, recs)
	h.mu.Lock()
	if h.start == nil {
		h.start = map[tp]int64{}
	}
	h.start[tp{topic, part}] = start
	h.mu.Unlock()
}

// Drained records that group consumed every partition to its end before
// the final read.
func (h *History) Drained(group string) {
	h.mu.Lock()
	h.drained = append(h.drained, group)
	h.mu.Unlock()
}

// Events returns a copy of the events so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Len returns the number of events so far.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// ClearFinal forgets the final reads recorded so far, so that a workload
// that restarts can check a new final read after each restart.
func (h *History) ClearFinal() {
	h.mu.Lock()
	h.final = nil
	h.start = nil
	h.drained = nil
	h.mu.Unlock()
}
