package core

// DefaultTopicConfig returns the configuration a topic gets when it is
// created on first publish (WithDefaultTopicConfig).
func (b *Bus) DefaultTopicConfig() TopicConfig { return b.cfg.defaultTopic }
