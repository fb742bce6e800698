package daemon

// DefaultKafka is the Kafka listener New uses unless WithKafka says
// otherwise. This build has none yet: the Kafka listener is not opened
// and kafka.addr is reported as off.
var DefaultKafka KafkaFactory
