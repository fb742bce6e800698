package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
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
