package broker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an external client, skipping the test when
// it is missing, except under CI=true, where a missing install step must
// show as a failure (.ci/run installs kcat, node and npm).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI must install it): %v", name, err)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// kcat runs kcat 1.7.1 (librdkafka 2.0.2) with args and stdin, bounded by
// 30s, and returns stdout and stderr.
func kcat(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needTool(t, "kcat"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\nstderr:\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// disabledFeatures are librdkafka features whose loss would break kcat
// users quietly; -d feature logs "Disabling feature ..." for each.
var disabledFeatures = []string{"BrokerBalancedConsumer", "SaslHandshake", "IdempotentProducer", "MsgVer2", "OffsetTime", "ZSTD", "LZ4"}

func checkFeatures(t *testing.T, stderr string) {
	t.Helper()
	for _, f := range disabledFeatures {
		if strings.Contains(stderr, "Disabling feature "+f) {
			t.Errorf("librdkafka disabled %s against this broker:\n%s", f, stderr)
		}
	}
}

func lines(n int, prefix string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s-%03d\n", prefix, i)
	}
	return b.String()
}

// TestKcat drives kcat 1.7.1 (librdkafka 2.0.2) against the broker:
// metadata, idempotent produce with each codec, consume from the
// beginning and by time, and a balanced consumer group.
func TestKcat(t *testing.T) {
	needTool(t, "kcat")
	tb := startBroker(t)
	b := []string{"-b", tb.addr}

	t.Run("metadata", func(t *testing.T) {
		kcat(t, "x\n", append(b, "-P", "-t", "meta-topic")...)
		out, _ := kcat(t, "", append(b, "-L")...)
		if !strings.Contains(out, "1 brokers:") || !strings.Contains(out, `topic "meta-topic" with 1 partitions`) {
			t.Fatalf("kcat -L:\n%s", out)
		}
	})
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run("produce idempotent "+codec, func(t *testing.T) {
			topic := "kcat-" + codec
			in := lines(50, codec)
			_, stderr := kcat(t, in, append(b, "-P", "-t", topic, "-z", codec, "-X", "enable.idempotence=true", "-d", "feature")...)
			checkFeatures(t, stderr)
			out, _ := kcat(t, "", append(b, "-C", "-t", topic, "-o", "beginning", "-e", "-q")...)
			if out != in {
				t.Fatalf("consumed:\n%s\nwant:\n%s", out, in)
			}
		})
	}
	t.Run("consume by time", func(t *testing.T) {
		topic := "kcat-time"
		kcat(t, lines(5, "old"), append(b, "-P", "-t", topic)...)
		time.Sleep(5 * time.Millisecond) // the next records get later timestamps
		since := time.Now().UnixMilli()
		time.Sleep(5 * time.Millisecond)
		kcat(t, lines(3, "new"), append(b, "-P", "-t", topic)...)
		out, _ := kcat(t, "", append(b, "-C", "-t", topic, "-o", "s@"+strconv.FormatInt(since, 10), "-e", "-q")...)
		if out != lines(3, "new") {
			t.Fatalf("-o s@%d:\n%s", since, out)
		}
	})
	t.Run("balanced consumer group", func(t *testing.T) {
		topic := "kcat-group"
		in := lines(40, "g")
		kcat(t, in, append(b, "-P", "-t", topic)...)
		out, stderr := kcat(t, "", append(b, "-G", "kcat-group", topic, "-o", "beginning", "-e", "-q", "-d", "feature,cgrp")...)
		checkFeatures(t, stderr)
		got := strings.Split(strings.TrimSpace(out), "\n")
		want := strings.Split(strings.TrimSpace(in), "\n")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("group consumed %d lines:\n%s", len(got), out)
		}
	})
}

// TestKcatSASL: kcat authenticates with PLAIN and SCRAM-SHA-256/512 and a
// wrong password is refused.
func TestKcatSASL(t *testing.T) {
	needTool(t, "kcat")
	tb := startBroker(t, WithSASL(testAuthenticator(t, map[string]string{"alice": "s3cret-pw"})))
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			auth := []string{"-b", tb.addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
				"-X", "sasl.username=alice", "-X", "sasl.password=s3cret-pw"}
			topic := "sasl-" + strings.ToLower(mech)
			_, stderr := kcat(t, "hello\n", append(auth, "-P", "-t", topic, "-d", "feature")...)
			checkFeatures(t, stderr)
			out, _ := kcat(t, "", append(auth, "-C", "-t", topic, "-o", "beginning", "-e", "-q")...)
			if out != "hello\n" {
				t.Fatalf("consumed %q", out)
			}
			bad := []string{"-b", tb.addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
				"-X", "sasl.username=alice", "-X", "sasl.password=wrong", "-L", "-m", "3"}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, needTool(t, "kcat"), bad...)
			outb, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(outb), "uthentication") {
				t.Fatalf("wrong password: %v\n%s", err, outb)
			}
		})
	}
}
