package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// kafkaRequests are the Kafka listener's request series.
type kafkaRequests struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newKafkaRequests(reg *prometheus.Registry) kafkaRequests {
	k := kafkaRequests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbusd_kafka_requests_total",
			Help: "Kafka wire protocol requests answered, by API."}, []string{"api"}),
		duration: latencyHistogram("onexbusd_kafka_request_duration_seconds",
			"From a Kafka request's arrival to its response (long polls and fsync waits included), by API.", "api"),
	}
	reg.MustRegister(k.total, k.duration)
	return k
}

// ObserveKafkaRequest counts one answered Kafka request of api (a Kafka
// API name: the label is bounded by the protocol's key set) that took d.
// transport/kafka/broker's WithRequestObserver takes it.
func (m *Metrics) ObserveKafkaRequest(api string, d time.Duration) {
	m.kafka.total.WithLabelValues(api).Inc()
	m.kafka.duration.WithLabelValues(api).Observe(d.Seconds())
}
