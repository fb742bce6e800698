package wal_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"testing"
)

// startChild runs this test binary again as a child that runs only test
// name, with env=dir added to its environment (the child's cue), and
// returns it started, with its stdout and a buffer collecting its stderr.
func startChild(t *testing.T, name, env, dir string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+name+"$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, &stderr
}
