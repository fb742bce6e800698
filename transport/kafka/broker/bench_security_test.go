package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/transport/auth"
)

// BenchmarkProduceSecurity: records/s kgo produces (its defaults, acks=all,
// 100-byte values, 4 partitions) to brokers on the same kind of bbolt bus
// in the same run: plaintext, TLS, SASL/SCRAM-SHA-512 over TLS, and that
// with ACLs enforced. Run with -count 3 and compare the ratios: the cost
// of TLS and of SCRAM against plaintext (issue 14's closing note).
func BenchmarkProduceSecurity(b *testing.B) {
	ca := newTestCA(b, "bench ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.issue(b, "broker", true)}, MinVersion: tls.VersionTLS12}
	store := auth.NewStore()
	if err := store.AddUser("bench", "bench-pw"); err != nil {
		b.Fatal(err)
	}
	sasl, err := NewStoreAuthenticator(store, false)
	if err != nil {
		b.Fatal(err)
	}
	aclStore := auth.NewStore()
	if err := aclStore.AddUser("bench", "bench-pw"); err != nil {
		b.Fatal(err)
	}
	if err := aclStore.SetRules([]auth.Rule{
		{Principal: "bench", Resource: auth.ResourceTopic, Pattern: "bench.**", Operations: []auth.Operation{auth.OpAdmin}},
		{Principal: "other", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpRead}},
	}); err != nil {
		b.Fatal(err)
	}
	aclSASL, err := NewStoreAuthenticator(aclStore, false)
	if err != nil {
		b.Fatal(err)
	}
	clientTLS := kgo.DialTLSConfig(ca.clientTLS())
	scramAuth := kgo.SASL(scram.Auth{User: "bench", Pass: "bench-pw"}.AsSha512Mechanism())
	cases := []struct {
		name    string
		opts    []Option
		clients []kgo.Opt
	}{
		{"plaintext", nil, nil},
		{"tls", []Option{WithTLS(serverTLS)}, []kgo.Opt{clientTLS}},
		{"sasl-scram-tls", []Option{WithTLS(serverTLS), WithSASL(sasl)}, []kgo.Opt{clientTLS, scramAuth}},
		{"sasl-scram-tls-acl", []Option{WithTLS(serverTLS), WithSASL(aclSASL), WithACL(aclStore)}, []kgo.Opt{clientTLS, scramAuth}},
	}
	vals := benchValues()
	for _, tc := range cases {
		tb := startBroker(b, tc.opts...)
		b.Run(tc.name, func(b *testing.B) {
			topic := fmt.Sprintf("bench.security-%d", rand.Int())
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, tc.clients...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := createTopicsReq(topic, benchPartitions, 1).RequestWith(ctx, cl); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				benchProduceN(b, cl, topic, benchRecords, vals)
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
		})
	}
}
