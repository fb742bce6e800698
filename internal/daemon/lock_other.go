//go:build !unix

package daemon

// dirLock is a no-op here: without flock, the bbolt file's own lock is
// what keeps a second daemon out of the data directory.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func lockHolder(string) (int, error) { return 0, nil }

func (*dirLock) release() error { return nil }
