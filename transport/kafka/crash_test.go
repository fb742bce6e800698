package kafka

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// Environment of a crash child: the data directory, the durability policy
// (interval or none), the brokers and what to run (ingest or forward).
const (
	crashDirEnv     = "ONEXBUS_KAFKA_CRASH_DIR"
	crashPolicyEnv  = "ONEXBUS_KAFKA_CRASH_POLICY"
	crashBrokersEnv = "ONEXBUS_KAFKA_CRASH_BROKERS"
	crashRoleEnv    = "ONEXBUS_KAFKA_CRASH_ROLE"

	// crashChildLifetime bounds a child the parent never killed.
	crashChildLifetime = time.Minute
)

// crashBus opens the bbolt bus of a crash child or of the parent's check.
// The flush interval is an hour: nothing reaches the file unless someone
// asks the bus to sync (or a chunk fills, which the small batches avoid).
func crashBus(dir, policy string) (*core.Bus, error) {
	p := core.DurabilityInterval
	if policy == "none" {
		p = core.DurabilityNone
	}
	return core.New(core.WithDataDir(dir), core.WithDurability(p, time.Hour), core.WithEnforcement(core.EnforceOff))
}

// startCrashChild runs this test binary as a child with role on dir and
// returns it with a reader of its stdout lines.
func startCrashChild(t *testing.T, test, role, dir, policy string, c *kfake.Cluster) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashPolicyEnv+"="+policy,
		crashBrokersEnv+"="+strings.Join(c.ListenAddrs(), ","), crashRoleEnv+"="+role)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// awaitLine reads the child's lines until one starts with prefix, failing
// on an error line or on the child's exit.
func awaitLine(t *testing.T, sc *bufio.Scanner, prefix string) string {
	t.Helper()
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error ") {
			t.Fatalf("child: %s", line)
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("child exited before %q: %v", prefix, sc.Err())
	return ""
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// Issue 9: under DurabilityInterval and DurabilityNone, PublishBatch
// returns while the records are only queued in memory. Ingest must make
// the bus sync them before it commits their Kafka offsets: a child
// process ingests, prints a line right after its Kafka commit and is
// SIGKILLed there; after a reopen every record below the committed
// offsets is in the local log.
func TestIngestCrashAfterKafkaCommit(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		if os.Getenv(crashRoleEnv) == "ingest" {
			if err := ingestCrashChild(dir, os.Getenv(crashPolicyEnv), os.Getenv(crashBrokersEnv)); err != nil {
				fmt.Fprintf(os.Stdout, "error %v\n", err)
				t.Fatal(err)
			}
		}
		return
	}
	for _, policy := range []string{"interval", "none"} {
		t.Run(policy, func(t *testing.T) {
			const n = 40 // under one chunk: nothing is written unless synced
			c, _ := newCluster(t, kfake.SeedTopics(2, topic))
			produceDirect(t, c.ListenAddrs(), topic, n, true)
			dir := t.TempDir()
			cmd, sc := startCrashChild(t, "TestIngestCrashAfterKafkaCommit", "ingest", dir, policy, c)
			awaitLine(t, sc, "committed")
			kill(t, cmd)

			// What Kafka holds as committed for the group.
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "crash")
			if err != nil {
				t.Fatal(err)
			}
			committed := map[int32]int64{}
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic && o.Err == nil {
					committed[o.Partition] = o.At
				}
			})
			if len(committed) == 0 {
				t.Fatal("the child committed nothing")
			}
			upstream := consumeAll(t, c, topic, n)

			b, err := crashBus(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(context.Background())
			_, local := localCount(t, b, topic)
			missing := 0
			for _, r := range upstream {
				if r.Offset >= committed[r.Partition] {
					continue
				}
				id, err := uuid.Parse(string(r.Headers[0].Value))
				if err != nil {
					t.Fatal(err)
				}
				if local[id] == 0 {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d records committed to Kafka (%v) are not in the local log after the crash", missing, committed)
			}
		})
	}
}

// ingestCrashChild ingests topic into the bus on dir and, after its first
// Kafka commit, prints "committed" and waits to be killed.
func ingestCrashChild(dir, policy, brokers string) error {
	ctx, cancel := context.WithTimeout(context.Background(), crashChildLifetime)
	defer cancel()
	b, err := crashBus(dir, policy)
	if err != nil {
		return err
	}
	cfg, err := crashConfig(brokers)
	if err != nil {
		return err
	}
	in, err := NewIngest(b, cfg, []string{topic}, WithIngestGroup("crash"))
	if err != nil {
		return err
	}
	in.ic.afterCommit = func([]*kgo.Record) {
		io.WriteString(os.Stdout, "committed\n")
		<-ctx.Done()
	}
	if err := in.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return fmt.Errorf("not killed within %v", crashChildLifetime)
}

// crashConfig is the configuration of a crash child.
func crashConfig(brokers string) (Config, error) {
	return Defaults().With(map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS":        brokers,
		"KAFKA_TIMEOUT_SECONDS":          "5",
		"KAFKA_RETRY_BACKOFF_BASE":       "0.02",
		"KAFKA_RECONNECT_BACKOFF_MAX_MS": "100",
		"KAFKA_CONSUMER_SLEEP_INTERVAL":  "0.01",
		"KAFKA_LINGER_MS":                "1",
	})
}

// Issue 9: DurabilityInterval on bbolt's NoSync, checked on the
// forwarder's side. Its position is a cursor committed in the same store
// transaction as the records it covers (taken before them), so after a
// kill -9 it never points past the local end, and nothing published after
// the restart is skipped: a child forwards while publishing and is
// SIGKILLed at a random moment, several times on one data directory;
// after each, the position is within the log, and a forwarder on the
// reopened bus sends every local message, old and new, to Kafka.
func TestForwarderCrashUnderInterval(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		if os.Getenv(crashRoleEnv) == "forward" {
			if err := forwardCrashChild(dir, os.Getenv(crashBrokersEnv)); err != nil {
				fmt.Fprintf(os.Stdout, "error %v\n", err)
				t.Fatal(err)
			}
		}
		return
	}
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	dir := t.TempDir()
	for cycle := range 3 {
		cmd, sc := startCrashChild(t, "TestForwarderCrashUnderInterval", "forward", dir, "interval", c)
		awaitLine(t, sc, "forwarded")
		// Let it publish and forward a little longer, differently each cycle.
		for range 20 * (cycle + 1) {
			awaitLine(t, sc, "published")
		}
		kill(t, cmd)

		b, err := core.New(core.WithDataDir(dir), core.WithDurability(core.DurabilityInterval, 20*time.Millisecond),
			core.WithEnforcement(core.EnforceOff))
		if err != nil {
			t.Fatal(err)
		}
		tc, _ := b.TopicConfig(topic)
		for p := range tc.Partitions {
			pos, _, err := b.CommittedOffset(DefaultForwarderGroup, topic, p)
			if err != nil {
				t.Fatal(err)
			}
			end, _ := b.EndOffset(topic, p)
			if pos > end {
				t.Fatalf("cycle %d: partition %d: forwarded position %d past the local end %d", cycle, p, pos, end)
			}
		}
		f, err := NewForwarder(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for i := range 10 {
			if _, err := b.Publish(ctx, &core.Message{Topic: topic, Key: fmt.Appendf(nil, "after-%d", i), Value: []byte("after")}); err != nil {
				t.Fatal(err)
			}
		}
		_, local := localCount(t, b, topic)
		for p := range tc.Partitions {
			end, _ := b.EndOffset(topic, p)
			if end > 0 {
				if err := f.WaitAcked(ctx, topic, p, end-1); err != nil {
					t.Fatal(err)
				}
			}
		}
		upstream := map[uuid.UUID]bool{}
		for _, r := range consumeAll(t, c, topic, len(local)) {
			for _, h := range r.Headers {
				if h.Key == core.HeaderMessageID {
					id, _ := uuid.Parse(string(h.Value))
					upstream[id] = true
				}
			}
		}
		for id := range local {
			if !upstream[id] {
				t.Fatalf("cycle %d: local message %s never reached Kafka", cycle, id)
			}
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// forwardCrashChild forwards the bus on dir (DurabilityInterval, bbolt
// NoSync) to Kafka while it publishes, printing "forwarded" once the
// first message is acknowledged upstream and "published" after each
// publish, until it is killed.
func forwardCrashChild(dir, brokers string) error {
	ctx, cancel := context.WithTimeout(context.Background(), crashChildLifetime)
	defer cancel()
	b, err := core.New(core.WithDataDir(dir), core.WithDurability(core.DurabilityInterval, 20*time.Millisecond),
		core.WithEnforcement(core.EnforceOff), core.WithTopic(topic, core.TopicConfig{Partitions: 2}))
	if err != nil {
		return err
	}
	cfg, err := crashConfig(brokers)
	if err != nil {
		return err
	}
	f, err := NewForwarder(b, cfg)
	if err != nil {
		return err
	}
	if err := f.Start(ctx); err != nil {
		return err
	}
	first := true
	for i := 0; ctx.Err() == nil; i++ {
		m := &core.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "v%d", i)}
		if _, err := b.Publish(ctx, m); err != nil {
			return err
		}
		if first {
			if err := f.WaitAcked(ctx, topic, m.Partition, m.Offset); err != nil {
				return err
			}
			io.WriteString(os.Stdout, "forwarded\n")
			first = false
		}
		io.WriteString(os.Stdout, "published\n")
		time.Sleep(time.Millisecond) // a publisher's pace, not a wait for a condition
	}
	return fmt.Errorf("not killed within %v", crashChildLifetime)
}
