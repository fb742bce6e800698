package daemon_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/internal/daemon"
	"github.com/onexbus/onexbus/transport/auth"
)

// BenchmarkDaemonProduceSecurity measures kgo produce throughput end to
// end through onexbusd (the daemon's wiring, its Kafka listener and log)
// in one run: plaintext, TLS, and SCRAM-SHA-512 over TLS with ACL rules.
// Each op is a batch of 100 records of 256 B produced and flushed
// (acks=all). durability=none isolates the transport's cost; sync adds
// the fsync every acknowledgement waits for.
func BenchmarkDaemonProduceSecurity(b *testing.B) {
	for _, durability := range []string{"none", "sync"} {
		for _, mode := range []string{"plaintext", "tls", "scram-tls"} {
			b.Run(fmt.Sprintf("durability=%s/%s", durability, mode), func(b *testing.B) {
				benchProduce(b, durability, mode)
			})
		}
	}
}

func benchProduce(b *testing.B, durability, mode string) {
	p := newPKI(b)
	cfg := daemon.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.KafkaAddr, cfg.AdminAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeHeartbeatInterval = 0
	cfg.Durability = durability
	cfg.LogLevel = "error"
	opts := []kgo.Opt{kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0)}
	if mode != "plaintext" {
		cfg.Security.KafkaTLS = daemon.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: "none"}
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}))
	}
	if mode == "scram-tls" {
		cred, err := newCred("bench-pw")
		if err != nil {
			b.Fatal(err)
		}
		cfg.Security.Users = []daemon.UserConfig{{Name: "bench", Credentials: []daemon.CredentialConfig{cred}}}
		cfg.Security.ACLs = []daemon.ACLConfig{{Principal: "bench", Resource: "topic", Pattern: "**", Operations: []string{"write", "create"}},
			{Principal: "bench", Resource: "cluster", Operations: []string{"create"}}}
		opts = append(opts, kgo.SASL(scram.Auth{User: "bench", Pass: "bench-pw"}.AsSha512Mechanism()))
	}
	d, err := daemon.New(cfg, daemon.WithLogOutput(discard{}))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(d.Addrs().Kafka.String()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	const topic, batch = "onex.evt.bench.security.v1", 100
	val := make([]byte, 256)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: val}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(batch * 256)
	n := 0
	for b.Loop() {
		var perr error
		for range batch {
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					perr = err
				}
			})
		}
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		if perr != nil {
			b.Fatal(perr)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

func newCred(pw string) (daemon.CredentialConfig, error) {
	c, err := auth.NewCredential(auth.SCRAMSHA512, pw, 0)
	return daemon.StoredCredential(c), err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
