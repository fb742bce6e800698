package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// Crash test knobs and shape; see TestCrash.
const (
	crashChildEnv  = "ONEXBUS_CRASH_CHILD"
	crashCyclesEnv = "ONEXBUS_CRASH_CYCLES"
	crashSeedEnv   = "ONEXBUS_CRASH_SEED"
	crashFormatEnv = "ONEXBUS_CRASH_FORMAT"

	crashPublishers = 16
	// crashTopicOne has one partition and unkeyed messages; crashTopicKeyed
	// has crashKeyedParts partitions and keyed messages. Publishers
	// alternate between them: even sequence numbers go to the first.
	crashTopicOne   = "crash-one"
	crashTopicKeyed = "crash-keyed"
	crashKeyedParts = 3

	// crashChildLifetime bounds a child that was never killed (a parent
	// that died without it): it stops publishing and exits.
	crashChildLifetime = time.Minute
	// crashReadyTimeout bounds how long the parent waits for a child to
	// open the bus, and for every group to deliver once; it only fires in
	// a broken test (or an engine that makes no progress after a crash).
	crashReadyTimeout = 30 * time.Second

	// crashFailEvery: a message whose seq is crashFailAt modulo it always
	// fails its handler, so it is dead-lettered after crashAttempts.
	crashFailEvery = 13
	crashFailAt    = 5
	crashAttempts  = 3
)

// crashGroups consume both topics while the child publishes, one group per
// ordering mode, with the dead-letter queue in play.
var crashGroups = []struct {
	name     string
	ordering core.Ordering
}{
	{"c-partition", core.OrderPartition},
	{"c-key", core.OrderKey},
	{"c-none", core.OrderNone},
}

// crashOK is one line of the child: a handler of group returned nil (it
// prints the line just before) for the message at this position.
type crashOK struct {
	life      int
	group     string
	topic     string
	partition int32
	offset    int64
	key       string
}

// crashFails reports whether the message "<p>-<seq>" is one whose handler
// always fails.
func crashFails(seq int) bool { return seq%crashFailEvery == crashFailAt }

// crashAck is one line of the child: Publish of value returned nil with
// this position.
type crashAck struct {
	topic     string
	partition int32
	offset    int64
	value     string
}

// crashRecord is a message as read back from the reopened log.
type crashRecord struct {
	topic     string
	partition int32
	offset    int64
	pub, seq  int
}

// TestCrash checks ACCEPTANCE 29 end to end: a message whose Publish
// returned is readable after kill -9 of the process and a reopen. It also
// checks delivery through the same kills, in every ordering mode with the
// dead-letter queue in play: one group per mode consumes while the child
// publishes, and some messages always fail their handler. After every
// kill: no group's cursor passed a message that was neither handled nor
// dead-lettered by that group; only failing messages were dead-lettered
// (a healthy one only with the text of a delivery cut short by a kill, at
// the limit of attempts); messages of one key (OrderPartition: of one
// partition) were handled in offset order within each life; and in every
// life that was not killed during start-up every group delivered.
//
// The test binary runs itself as a child process (crashChildEnv names the
// data directory) that publishes from crashPublishers goroutines and prints
// an ack line the moment each Publish returns nil. The parent kills it
// with SIGKILL at a random moment, reopens the directory in-process and
// checks the log against every ack of every cycle so far; then the next
// cycle starts a child on the same directory, so the log accumulates.
//
// Environment:
//
//	ONEXBUS_CRASH_CYCLES  number of cycles (default 30; 5 with -short or CI=true).
//	                      The run time grows with the cycles (the log
//	                      accumulates): give long runs a -timeout to match.
//	ONEXBUS_CRASH_SEED    seed of the kill delays (default: the clock; logged)
//	ONEXBUS_CRASH_FORMAT  storage format of the topics: frames (default) or
//	                      kafka (Publish writes Kafka batches)
//	ONEXBUS_CRASH_CHILD   set by the parent: run as the child on that directory
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		if err := crashChild(dir); err != nil {
			// The parent sees the exit before its kill and fails with this.
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			t.Fatal(err)
		}
		return
	}

	cycles := 30
	if testing.Short() || os.Getenv("CI") == "true" {
		cycles = 5
	}
	if s := os.Getenv(crashCyclesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", crashCyclesEnv, s)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", crashSeedEnv, s)
		}
		seed = n
	}
	t.Logf("crash test: %d cycles, seed %d (rerun with %s=%d)", cycles, seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6f6e657862757321))

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var acks []crashAck                  // every ack of every cycle
	var oks []crashOK                    // every handled message of every cycle
	next := make([]int, crashPublishers) // next sequence number per publisher
	for cycle := range cycles {
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		// Most kills are timed from the child's ready line so that they
		// land among publishes; one in four from the process start, so
		// that some land in open, recovery and topic creation.
		fromStart := rng.IntN(4) == 0
		got, handled := runCrashChild(t, exe, dir, delay, fromStart, next)
		for i := range handled {
			handled[i].life = cycle
		}
		acks = append(acks, got...)
		oks = append(oks, handled...)
		checkCrashOrder(t, cycle, handled)
		before := next
		next = verifyCrashLog(t, dir, acks, before, oks)
		total := 0
		for _, n := range next {
			total += n
		}
		t.Logf("cycle %d: killed after %v (from start: %v), %d acks, %d handled, %d messages in the log",
			cycle, delay, fromStart, len(got), len(handled), total)
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d)", cycle, seed)
		}
	}
}

// crashChild opens the bus on dir, continues every publisher's sequence
// from the log and publishes until it is killed (or its lifetime ends).
func crashChild(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), crashChildLifetime)
	defer cancel()
	format := core.FormatFrames
	if os.Getenv(crashFormatEnv) == "kafka" {
		format = core.FormatKafka
	}
	bus, err := core.New(core.WithDataDir(dir),
		core.WithTopic(crashTopicOne, core.TopicConfig{Partitions: 1, Format: format}),
		core.WithTopic(crashTopicKeyed, core.TopicConfig{Partitions: crashKeyedParts, Format: format}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: crashAttempts, Base: time.Millisecond, Max: 2 * time.Millisecond}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 0}))
	if err != nil {
		return err
	}
	defer bus.Close(context.Background())
	for _, g := range crashGroups {
		for _, topic := range []string{crashTopicOne, crashTopicKeyed} {
			if _, err := bus.Subscribe(ctx, topic, g.name, crashHandler(g.name),
				core.SubscribeStart(core.StartEarliest), core.SubscribeOrdering(g.ordering, 8)); err != nil {
				return err
			}
		}
	}
	recs, err := readCrashLog(ctx, bus)
	if err != nil {
		return err
	}
	start := make([]int, crashPublishers)
	for _, r := range recs {
		start[r.pub] = max(start[r.pub], r.seq+1)
	}
	ready := "ready"
	for _, s := range start {
		ready += " " + strconv.Itoa(s)
	}
	if _, err := io.WriteString(os.Stdout, ready+"\n"); err != nil {
		return err
	}

	errc := make(chan error, crashPublishers)
	var wg sync.WaitGroup
	for p := range crashPublishers {
		wg.Go(func() { errc <- crashPublish(ctx, bus, p, start[p]) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// crashHandler prints "ok <group> <topic> <partition> <offset> <key>" and
// succeeds, except for the messages crashFails picks, which always fail.
func crashHandler(group string) core.Handler {
	return func(_ context.Context, m *core.Message) error {
		_, s, _ := strings.Cut(string(m.Value), "-")
		if seq, err := strconv.Atoi(s); err == nil && crashFails(seq) {
			return errors.New("this message always fails")
		}
		key := string(m.Key)
		if key == "" {
			key = "-"
		}
		line := fmt.Appendf(nil, "ok %s %s %d %d %s\n", group, m.Topic, m.Partition, m.Offset, key)
		_, err := os.Stdout.Write(line)
		return err
	}
}

// crashPublish publishes "<p>-<seq>" from seq on, one at a time, and
// prints an ack line as soon as each Publish returns nil. Each line is one
// write to the pipe (shorter than PIPE_BUF), so lines of publishers never
// interleave and nothing is buffered in the process when it is killed.
func crashPublish(ctx context.Context, bus *core.Bus, p, seq int) error {
	var line []byte
	for ; ctx.Err() == nil; seq++ {
		m := &core.Message{Topic: crashTopicOne, Value: []byte(strconv.Itoa(p) + "-" + strconv.Itoa(seq))}
		if seq%2 == 1 {
			m.Topic = crashTopicKeyed
			m.Key = []byte("k" + strconv.Itoa((p+seq)%7))
		}
		off, err := bus.Publish(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("publisher %d seq %d: %w", p, seq, err)
		}
		line = fmt.Appendf(line[:0], "ack %s %d %d %s\n", m.Topic, m.Partition, off, m.Value)
		if _, err := os.Stdout.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// runCrashChild starts a child on dir, kills it with SIGKILL delay after
// its start (fromStart) or after its ready line, and returns its acks. It
// checks that the child resumed each publisher at next.
func runCrashChild(t *testing.T, exe, dir string, delay time.Duration, fromStart bool, next []int) ([]crashAck, []crashOK) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestCrash$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The reader owns acks, other and readyLine until it closes done.
	var (
		acks      []crashAck
		oks       []crashOK
		other     []string
		readyLine string
		parseErr  error
		delivered = map[string]bool{} // groups that handled a message
	)
	ready := make(chan struct{})
	progress := make(chan struct{}) // closed once every group handled one
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ack "):
				a, err := parseCrashAck(line)
				if err != nil && parseErr == nil {
					parseErr = err
				}
				acks = append(acks, a)
			case strings.HasPrefix(line, "ok "):
				o, err := parseCrashOK(line)
				if err != nil && parseErr == nil {
					parseErr = err
				}
				oks = append(oks, o)
				if !delivered[o.group] {
					delivered[o.group] = true
					if len(delivered) == len(crashGroups) {
						close(progress)
					}
				}
			case strings.HasPrefix(line, "ready") && readyLine == "":
				readyLine = line
				close(ready)
			default:
				other = append(other, line)
			}
		}
		if err := sc.Err(); err != nil && parseErr == nil {
			parseErr = err
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		t.Fatalf(format+"\nchild stdout (besides acks):\n%s\nchild stderr:\n%s",
			append(args, strings.Join(other, "\n"), stderr.String())...)
	}

	started := time.Now()
	if !fromStart {
		select {
		case <-ready:
		case <-done:
			fail("child exited before its ready line")
		case <-time.After(crashReadyTimeout):
			fail("child not ready within %v", crashReadyTimeout)
		}
		// Recovery must make progress in every life: every group delivers
		// before the kill is timed.
		select {
		case <-progress:
		case <-done:
			fail("child exited before every group delivered")
		case <-time.After(crashReadyTimeout):
			fail("a group delivered nothing within %v of the child's start", crashReadyTimeout)
		}
		started = time.Now()
	}
	timer := time.NewTimer(delay - time.Since(started))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-done:
		fail("child exited before it was killed")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	<-done
	err = cmd.Wait()
	if ps := cmd.ProcessState; ps == nil || ps.ExitCode() != -1 {
		t.Fatalf("child was not killed by the signal: %v\nchild stderr:\n%s", err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Fatalf("child stderr:\n%s", s)
	}
	if parseErr != nil {
		t.Fatalf("child stdout: %v", parseErr)
	}
	if len(other) > 0 {
		t.Errorf("unexpected child output:\n%s", strings.Join(other, "\n"))
	}
	if readyLine != "" {
		want := "ready"
		for _, s := range next {
			want += " " + strconv.Itoa(s)
		}
		if readyLine != want {
			t.Errorf("child resumed at %q, the log says %q", readyLine, want)
		}
	}
	return acks, oks
}

func parseCrashOK(line string) (crashOK, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return crashOK{}, fmt.Errorf("malformed ok %q", line)
	}
	part, err1 := strconv.ParseInt(f[3], 10, 32)
	off, err2 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return crashOK{}, fmt.Errorf("malformed ok %q: %w", line, err)
	}
	return crashOK{group: f[1], topic: f[2], partition: int32(part), offset: off, key: f[5]}, nil
}

// checkCrashOrder checks one life's handled messages: per key (for the
// key-ordered group, keyed topic) and per partition (for the
// partition-ordered group), offsets increase.
func checkCrashOrder(t *testing.T, life int, oks []crashOK) {
	t.Helper()
	type chain struct {
		group, topic, key string
		partition         int32
	}
	last := map[chain]int64{}
	for _, o := range oks {
		var c chain
		switch {
		case o.group == "c-partition":
			c = chain{group: o.group, topic: o.topic, partition: o.partition}
		case o.group == "c-key" && o.key != "-":
			c = chain{group: o.group, topic: o.topic, partition: o.partition, key: o.key}
		default:
			continue
		}
		if prev, ok := last[c]; ok && o.offset <= prev {
			t.Errorf("life %d: %s handled %s/%d offset %d after %d (key %s): out of order", life, o.group, o.topic, o.partition, o.offset, prev, o.key)
		}
		last[c] = o.offset
	}
}

func parseCrashAck(line string) (crashAck, error) {
	f := strings.Fields(line)
	if len(f) != 5 {
		return crashAck{}, fmt.Errorf("malformed ack %q", line)
	}
	part, err1 := strconv.ParseInt(f[2], 10, 32)
	off, err2 := strconv.ParseInt(f[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return crashAck{}, fmt.Errorf("malformed ack %q: %w", line, err)
	}
	return crashAck{topic: f[1], partition: int32(part), offset: off, value: f[4]}, nil
}

// readCrashLog reads every message of every topic of bus in offset order
// and checks what needs no acks: offsets dense from 0 up to the end
// offset, values of the form "<publisher>-<seq>", keyed messages on the
// partition of their key.
func readCrashLog(ctx context.Context, bus *core.Bus) ([]crashRecord, error) {
	var out []crashRecord
	for _, topic := range bus.Topics() {
		tc, _ := bus.TopicConfig(topic)
		for part := range tc.Partitions {
			if bus.IsDeadLetterTopic(topic) {
				break // the dead letters' topic, checked with the queue
			}
			start, err := bus.StartOffset(topic, part)
			if err != nil {
				return nil, err
			}
			end, err := bus.EndOffset(topic, part)
			if err != nil {
				return nil, err
			}
			if start != 0 {
				return nil, fmt.Errorf("%s/%d starts at %d, want 0", topic, part, start)
			}
			var from int64
			for {
				msgs, err := bus.Fetch(ctx, topic, part, from, 4096)
				if err != nil {
					return nil, err
				}
				if len(msgs) == 0 {
					break
				}
				for _, m := range msgs {
					if m.Offset != from {
						return nil, fmt.Errorf("%s/%d: offset %d where %d was due (gap or duplicate)", topic, part, m.Offset, from)
					}
					r, err := crashDecode(m, tc.Partitions)
					if err != nil {
						return nil, err
					}
					out = append(out, r)
					from++
				}
			}
			if from != end {
				return nil, fmt.Errorf("%s/%d: read %d messages, end offset is %d", topic, part, from, end)
			}
		}
	}
	return out, nil
}

func crashDecode(m *core.Message, parts int32) (crashRecord, error) {
	r := crashRecord{topic: m.Topic, partition: m.Partition, offset: m.Offset}
	p, s, ok := strings.Cut(string(m.Value), "-")
	var err1, err2 error
	r.pub, err1 = strconv.Atoi(p)
	r.seq, err2 = strconv.Atoi(s)
	if !ok || err1 != nil || err2 != nil || r.pub < 0 || r.pub >= crashPublishers || r.seq < 0 {
		return r, fmt.Errorf("%s/%d at %d: value %q is not <publisher>-<seq>", m.Topic, m.Partition, m.Offset, m.Value)
	}
	switch m.Topic {
	case crashTopicOne:
		if len(m.Key) != 0 || r.seq%2 != 0 {
			return r, fmt.Errorf("%s/%d at %d: value %q key %q does not belong here", m.Topic, m.Partition, m.Offset, m.Value, m.Key)
		}
	case crashTopicKeyed:
		if r.seq%2 != 1 || len(m.Key) == 0 || core.KafkaPartition(m.Key, parts) != m.Partition {
			return r, fmt.Errorf("%s/%d at %d: value %q key %q does not belong here", m.Topic, m.Partition, m.Offset, m.Value, m.Key)
		}
	default:
		return r, fmt.Errorf("unexpected topic %q", m.Topic)
	}
	return r, nil
}

// verifyCrashLog reopens dir in-process, checks the log against acks (all
// cycles so far) and returns each publisher's next sequence number. prev
// is what it returned last cycle.
//
// Besides readCrashLog's checks: every ack is in the log at its position
// with its value; every value is in the log once; each publisher's values
// are in seq order in every partition and its seqs are dense from 0 (a
// publisher sends seq n+1 only after Publish of n returned, so a hole
// means a lost message); and of what this cycle's child published, the
// log holds at most one unacked message per publisher, its last, the
// Publish the kill interrupted.
func verifyCrashLog(t *testing.T, dir string, acks []crashAck, prev []int, oks []crashOK) []int {
	t.Helper()
	// A broken log breaks thousands of acks: report the first few.
	const maxReports = 20
	reports := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		if reports++; reports <= maxReports {
			t.Errorf(format, args...)
		}
	}
	defer func() {
		if reports > maxReports {
			t.Errorf("... and %d more problems", reports-maxReports)
		}
	}()
	ctx := context.Background()
	bus, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer func() {
		if err := bus.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	recs, err := readCrashLog(ctx, bus)
	if err != nil {
		t.Fatalf("read after kill: %v", err)
	}

	type pos struct {
		topic     string
		partition int32
		offset    int64
	}
	type chain struct {
		pub       int
		topic     string
		partition int32
	}
	at := make(map[pos]crashRecord, len(recs))
	where := make(map[[2]int]pos, len(recs)) // (pub, seq) -> position
	last := make(map[chain]int)              // last seq seen per publisher and partition
	next := make([]int, crashPublishers)
	counts := make([]int, crashPublishers)
	for _, r := range recs {
		p := pos{r.topic, r.partition, r.offset}
		at[p] = r
		id := [2]int{r.pub, r.seq}
		if first, dup := where[id]; dup {
			errorf("value %d-%d is in the log twice: %v and %v", r.pub, r.seq, first, p)
		}
		where[id] = p
		c := chain{r.pub, r.topic, r.partition}
		if l, ok := last[c]; ok && r.seq <= l {
			errorf("%s/%d at %d: value %d-%d after %d-%d (out of publish order)", r.topic, r.partition, r.offset, r.pub, r.seq, r.pub, l)
		}
		last[c] = r.seq
		next[r.pub] = max(next[r.pub], r.seq+1)
		counts[r.pub]++
	}
	for p := range crashPublishers {
		if counts[p] != next[p] {
			errorf("publisher %d: %d messages in the log but seqs reach %d: a message was lost", p, counts[p], next[p]-1)
		}
		if next[p] < prev[p] {
			errorf("publisher %d: the log ends at seq %d, it reached %d before this cycle", p, next[p]-1, prev[p]-1)
		}
	}

	acked := make(map[[2]int]bool, len(acks))
	for _, a := range acks {
		r, ok := at[pos{a.topic, a.partition, a.offset}]
		if !ok {
			errorf("acked %s at %s/%d offset %d: not in the log", a.value, a.topic, a.partition, a.offset)
			continue
		}
		if got := fmt.Sprintf("%d-%d", r.pub, r.seq); got != a.value {
			errorf("acked %s at %s/%d offset %d: the log holds %s there", a.value, a.topic, a.partition, a.offset, got)
			continue
		}
		acked[[2]int{r.pub, r.seq}] = true
	}
	for p := range crashPublishers {
		for s := prev[p]; s < next[p]; s++ {
			if !acked[[2]int{p, s}] && s != next[p]-1 {
				errorf("publisher %d: seq %d is in the log unacked but seq %d came after it", p, s, next[p]-1)
			}
		}
	}

	// Delivery: below each group's cursor, every message was handled by
	// the group or dead-lettered by it; only failing messages were
	// dead-lettered, a healthy one only at the limit of attempts cut short
	// by kills (its delivery was under way, outcome not stored, at each).
	type gpos struct {
		group string
		pos   pos
	}
	handled := make(map[gpos]bool, len(oks))
	for _, o := range oks {
		handled[gpos{o.group, pos{o.topic, o.partition, o.offset}}] = true
	}
	letters, err := bus.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
	if err != nil {
		t.Fatalf("dead letters after kill: %v", err)
	}
	lettered := make(map[gpos]bool, len(letters))
	for _, l := range letters {
		p := pos{l.Topic, l.Partition, l.Offset}
		lettered[gpos{l.Group, p}] = true
		r, ok := at[p]
		switch {
		case !ok:
			errorf("dead letter %d of %s at %v: no such message", l.ID, l.Group, p)
		case !crashFails(r.seq) && !strings.Contains(l.Error, "before this run of the process"):
			errorf("healthy message %d-%d at %v dead-lettered by %s: %s", r.pub, r.seq, p, l.Group, l.Error)
		case !crashFails(r.seq):
			t.Logf("healthy message %d-%d at %v dead-lettered by %s after kills in its handler: %s", r.pub, r.seq, p, l.Group, l.Error)
		}
	}
	for _, g := range crashGroups {
		for _, topic := range []string{crashTopicOne, crashTopicKeyed} {
			tc, _ := bus.TopicConfig(topic)
			for part := range tc.Partitions {
				cur, _, err := bus.CommittedOffset(g.name, topic, part)
				if err != nil {
					t.Fatal(err)
				}
				end, _ := bus.EndOffset(topic, part)
				if cur > end {
					errorf("%s cursor on %s/%d is %d, past the end %d", g.name, topic, part, cur, end)
				}
				for off := int64(0); off < cur; off++ {
					k := gpos{g.name, pos{topic, part, off}}
					if !handled[k] && !lettered[k] {
						errorf("%s passed %s/%d offset %d: neither handled nor dead-lettered", g.name, topic, part, off)
					}
				}
			}
		}
	}
	return next
}
