package core_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

const poisonChildEnv = "ONEXBUS_POISON_CHILD"

// poisonBus opens the bus of the poison test on dir.
func poisonBus(dir string) (*core.Bus, error) {
	return core.New(core.WithDataDir(dir),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
}

// runPoisonChild is the child: it consumes the topic and dies (SIGKILL,
// no cleanup) in the handler of the poison message; it prints "done" when
// it has seen the message after the poison.
func runPoisonChild(dir string) {
	b, err := poisonBus(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(2)
	}
	done := make(chan struct{})
	_, err = b.Subscribe(context.Background(), "poison", "g", func(_ context.Context, m *core.Message) error {
		switch string(m.Value) {
		case "poison":
			os.Stdout.WriteString("crash\n")
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "after":
			close(done)
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(2)
	}
	<-done
	if err := b.Close(context.Background()); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("done\n")
	os.Exit(0)
}

// ACCEPTANCE 20: attempts survive a restart. A message whose handler kills
// the process is dead-lettered at the limit after restarts, not retried
// forever. The first crash cannot be told apart from a crash elsewhere in
// its batch, so with MaxAttempts 3 the process dies 4 times.
func TestHandlerCrashDeadLettersAtLimit(t *testing.T) {
	if dir := os.Getenv(poisonChildEnv); dir != "" {
		runPoisonChild(dir)
		return
	}
	dir := t.TempDir()
	ctx := context.Background()
	b, err := poisonBus(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"before", "poison", "after"} {
		if _, err := b.Publish(ctx, msg("poison", v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	crashes := 0
	for run := 0; ; run++ {
		if run == 10 {
			t.Fatalf("still crashing after %d runs: the poison message is retried forever", run)
		}
		cmd := exec.Command(exe, "-test.run=^TestHandlerCrashDeadLettersAtLimit$", "-test.count=1")
		cmd.Env = append(os.Environ(), poisonChildEnv+"="+dir)
		out, err := cmd.Output()
		lines := strings.Fields(string(out))
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
			if len(lines) == 0 || lines[len(lines)-1] != "crash" {
				t.Fatalf("child killed without reaching the poison: %q", out)
			}
			crashes++
			continue
		}
		if err != nil || !strings.Contains(string(out), "done") {
			t.Fatalf("child: %v, output %q", err, out)
		}
		break
	}
	if crashes != 4 {
		t.Fatalf("the process died %d times in the handler, want 4 (MaxAttempts 3, plus the first, uncounted)", crashes)
	}
	b, err = poisonBus(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
	if err != nil || len(letters) != 1 || string(letters[0].Value) != "poison" || letters[0].Attempts != 3 {
		t.Fatalf("dead letters %+v, %v; want the poison message with 3 attempts", letters, err)
	}
	if off, _, _ := b.CommittedOffset("g", "poison", 0); off != 3 {
		t.Fatalf("cursor %d, want 3", off)
	}
}
