package bench

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
)

// mutexProfileEnv names a file: the child writes a mutex profile of its
// open-loop runs there (go tool pprof; the delay each Unlock made its
// waiters wait, by the unlocker's stack).
const mutexProfileEnv = "ONEXBUS_BENCH_MUTEXPROFILE"

// startMutexProfile records every mutex contention event from now on;
// stop writes the profile to path and turns recording off.
func startMutexProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mutexProfileEnv, err)
	}
	runtime.SetMutexProfileFraction(1)
	return func() error {
		err := pprof.Lookup("mutex").WriteTo(f, 0)
		runtime.SetMutexProfileFraction(0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", mutexProfileEnv, err)
		}
		return nil
	}, nil
}

// TestMutexProfile checks ONEXBUS_BENCH_MUTEXPROFILE's writer: contention
// between start and stop is in the file (a gzipped pprof profile naming
// the contended function), and recording is off again after stop.
func TestMutexProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mutex.prof")
	stop, err := startMutexProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	contendMutex()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if f := runtime.SetMutexProfileFraction(-1); f != 0 {
		t.Fatalf("mutex profile fraction %d after stop, want 0", f)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a gzipped profile: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("contendMutex")) {
		t.Fatal("the profile does not name the contended function")
	}
}

// contendMutex holds a mutex while a goroutine waits for it, round after
// round, until the runtime has recorded a contention (an Unlock that found
// a waiter) or 10,000 rounds passed.
func contendMutex() {
	prof := pprof.Lookup("mutex")
	for range 10_000 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		mu.Lock()
		started := make(chan struct{})
		wg.Go(func() {
			close(started)
			mu.Lock()
			defer mu.Unlock()
		})
		<-started
		for range 10 {
			runtime.Gosched() // let the goroutine reach Lock
		}
		mu.Unlock()
		wg.Wait()
		if prof.Count() > 0 {
			return
		}
	}
}
