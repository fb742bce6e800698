package wal

import "time"

// Observer is told what the committer did, for metrics. Its methods run on
// the committer goroutine after the transaction, without the log's locks:
// they must be quick and must not call the Log.
type Observer interface {
	// OnCommit reports one group commit.
	OnCommit(CommitStats)
	// OnEvict reports records retention removed from a partition.
	OnEvict(topic string, part int32, records int64)
}

// CommitStats describes one group commit.
type CommitStats struct {
	// Records and Bytes are what the commit appended, over every
	// partition (cursors and other state ride along uncounted).
	Records, Bytes int64
	// Duration is the store transaction's, fsync included under
	// PolicySync: the latency the disk adds to a publish.
	Duration time.Duration
	// Err is the commit's error; the records then stay queued.
	Err error
}

// WithObserver reports commits and evictions to o (default none).
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// observeCommit reports a commit of cuts that took d.
func (l *Log) observeCommit(cuts []cut, d time.Duration, err error) {
	o := l.cfg.observer
	if o == nil {
		return
	}
	st := CommitStats{Duration: d, Err: err}
	for i := range cuts {
		st.Records += cuts[i].count
		for _, ch := range cuts[i].chunks {
			st.Bytes += int64(len(ch.b))
		}
	}
	if st.Records > 0 || err != nil {
		o.OnCommit(st)
	}
	if err != nil {
		return
	}
	for i := range cuts {
		c := &cuts[i]
		n := c.evicted
		if c.newStart > c.start {
			n += c.newStart - c.start // whole chunks, by bytes or age
		}
		if n > 0 {
			o.OnEvict(c.p.topic, c.p.id, n)
		}
	}
}
