//go:build race

package message

// raceDetector is true in a -race build, whose sync.Pool drops a
// quarter of its Puts on purpose: an allocation count that relies on a
// pool is only checked without it (as the standard library's tests do
// with race.Enabled).
const raceDetector = true
