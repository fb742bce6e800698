package core

// callDone runs a PublishAsync callback on the commit goroutine. A panic
// in it would kill the process from a goroutine the caller does not own,
// so it is recovered and logged, as a handler's panic is turned into an
// error: there is no caller left to return it to.
func (b *Bus) callDone(done func(*Message, error), msg *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			b.cfg.logger.Error("PublishAsync callback panicked; recovered", "topic", msg.Topic,
				"partition", msg.Partition, "offset", msg.Offset, "panic", r)
		}
	}()
	done(msg, err)
}
