package broker

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childBroker is a broker in a child process (this test binary re-run
// with BROKER_CHILD_DIR), for kill -9 tests and external clients.
type childBroker struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startChild starts a child broker over dir on a free loopback port (or
// addr) and waits until it listens. extraEnv adds environment. It is
// stopped at cleanup if still running.
func startChild(t testing.TB, dir string, extraEnv ...string) *childBroker {
	t.Helper()
	return startChildAt(t, dir, "127.0.0.1:0", extraEnv...)
}

func startChildAt(t testing.TB, dir, addr string, extraEnv ...string) *childBroker {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), append([]string{envChildDir + "=" + dir, envChildAddr + "=" + addr}, extraEnv...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childBroker{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				ready <- a
			}
		}
	}()
	go func() { c.done <- cmd.Wait() }()
	select {
	case c.addr = <-ready:
	case err := <-c.done:
		t.Fatalf("child broker exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child broker did not start within 30s")
	}
	t.Cleanup(func() { c.stop(t) })
	return c
}

// kill sends SIGKILL and waits for the exit.
func (c *childBroker) kill(t testing.TB) {
	t.Helper()
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.done
	c.done <- nil
}

// stop sends SIGTERM and waits (SIGKILL after 15s).
func (c *childBroker) stop(t testing.TB) {
	select {
	case err := <-c.done:
		c.done <- err
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Errorf("child broker exit: %v", err)
		}
	case <-ctx.Done():
		c.cmd.Process.Kill()
		<-c.done
		t.Error("child broker did not stop on SIGTERM within 15s")
	}
}
