package core_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

const (
	suspectChildEnv = "ONEXBUS_SUSPECT_CHILD"
	suspectFinalEnv = "ONEXBUS_SUSPECT_FINAL"
	suspectTopic    = "suspect"
	suspectFast     = 20
)

func suspectBus(dir string) (*core.Bus, error) {
	return core.New(core.WithDataDir(dir),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
}

// runSuspectChild consumes the topic key-ordered. Until the final life,
// "slow" and every fast-<i>-b are held in their handlers until the kill;
// fast-<i> succeed. A -b reaches its handler only once fast-<i> finished
// with its outcome stored (its key is in order), so the child prints
// "settled" when every -b is in its handler or already dead-lettered. In
// the final life every handler succeeds, and the child prints "done" once
// the group's cursor is at the end and the bus is closed cleanly.
func runSuspectChild(dir string, final bool) error {
	b, err := suspectBus(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var mu sync.Mutex
	held := map[string]bool{}
	_, err = b.Subscribe(ctx, suspectTopic, "g", func(hctx context.Context, m *core.Message) error {
		v := string(m.Value)
		if !final && (v == "slow" || strings.HasSuffix(v, "-b")) {
			mu.Lock()
			held[v] = true
			mu.Unlock()
			<-hctx.Done() // held until the kill
			return hctx.Err()
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest), core.SubscribeOrdering(core.OrderKey, 64))
	if err != nil {
		return err
	}
	if !final {
		for {
			letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
			if err != nil {
				return err
			}
			n := 0
			mu.Lock()
			for i := range suspectFast {
				v := fmt.Sprintf("fast-%d-b", i)
				if held[v] || slices.ContainsFunc(letters, func(l dlq.Letter) bool { return string(l.Value) == v }) {
					n++
				}
			}
			mu.Unlock()
			if n == suspectFast {
				os.Stdout.WriteString("settled\n")
				select {} // killed by the parent
			}
			time.Sleep(time.Millisecond)
		}
	}
	end, err := b.EndOffset(suspectTopic, 0)
	if err != nil {
		return err
	}
	for {
		if off, _, err := b.CommittedOffset("g", suspectTopic, 0); err != nil {
			return err
		} else if off == end {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Close(ctx); err != nil {
		return err
	}
	os.Stdout.WriteString("done\n")
	return nil
}

// Healthy messages used to be dead-lettered after restarts: with
// OrderKey, messages that succeeded behind one slow key stay above the
// cursor, and each restart counted them as suspects with a durable
// attempt that success never cleared, until after MaxAttempts restarts
// they were dead-lettered "the process stopped in the handler". Here a
// slow message holds the cursor through five kill -9s, each once every
// fast-<i> has finished (see runSuspectChild). None of them may be
// dead-lettered; the held ones may, with a text that says what is known.
func TestSuccessClearsSuspicionAcrossKills(t *testing.T) {
	if dir := os.Getenv(suspectChildEnv); dir != "" {
		if err := runSuspectChild(dir, os.Getenv(suspectFinalEnv) != ""); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	ctx := context.Background()
	b, err := suspectBus(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub := func(key, value string) {
		t.Helper()
		if _, err := b.Publish(ctx, &core.Message{Topic: suspectTopic, Key: []byte(key), Value: []byte(value)}); err != nil {
			t.Fatal(err)
		}
	}
	pub("s", "slow")
	for i := range suspectFast {
		pub(fmt.Sprintf("k%d", i), fmt.Sprintf("fast-%d", i))
	}
	for i := range suspectFast {
		pub(fmt.Sprintf("k%d", i), fmt.Sprintf("fast-%d-b", i))
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const kills = 5
	for life := 0; life <= kills; life++ {
		final := life == kills
		cmd := exec.Command(exe, "-test.run=^TestSuccessClearsSuspicionAcrossKills$", "-test.count=1", "-test.timeout=2m")
		cmd.Env = append(os.Environ(), suspectChildEnv+"="+dir)
		if final {
			cmd.Env = append(cmd.Env, suspectFinalEnv+"=1")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		settled, done := false, false
		timeout := time.After(time.Minute)
		for !done && !settled {
			select {
			case line, ok := <-lines:
				switch {
				case !ok:
					done = true
					if !final {
						t.Fatalf("life %d: child exited before it settled", life)
					}
				case strings.HasPrefix(line, "error "):
					t.Fatalf("life %d: child: %s", life, line)
				case line == "settled":
					settled = true
				case line == "done":
					done = true
				}
			case <-timeout:
				_ = cmd.Process.Kill()
				t.Fatalf("life %d: no progress within a minute", life)
			}
		}
		if !final {
			_ = cmd.Process.Kill()
		}
		for range lines {
		}
		err = cmd.Wait()
		if final && (err != nil || !done) {
			t.Fatalf("final life: %v, done %v", err, done)
		}
	}
	b, err = suspectBus(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range letters {
		v := string(l.Value)
		switch {
		case strings.HasPrefix(v, "fast-") && !strings.HasSuffix(v, "-b"):
			t.Errorf("healthy %s dead-lettered after %d attempts: %s", v, l.Attempts, l.Error)
		case strings.Contains(l.Error, "stopped in the handler"):
			t.Errorf("%s dead-lettered with the old, unproven text: %s", v, l.Error)
		case v == "slow" && !strings.Contains(l.Error, "before this run of the process"):
			t.Errorf("slow dead-lettered with %q, want the earlier-run explanation", l.Error)
		}
	}
}
