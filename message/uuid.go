package message

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"sync"

	"github.com/google/uuid"
)

// uuidPool hands out the generators version 4 UUIDs are drawn from, so
// that making one does not allocate (uuid.New without
// uuid.EnableRandPool allocates, and EnableRandPool is a process-wide
// switch that is not ours to flip). It is a sync.Pool, not one generator
// under a mutex: publishers on several cores each take a generator of
// their own. A generator is taken by one caller at a time, so no output
// is handed out twice.
//
// Each generator is math/rand/v2's ChaCha8 seeded with 32 bytes from
// crypto/rand (newUUIDGen): a cryptographically strong stream that
// erases its key as it goes, as RFC 9562 asks of version 4 UUIDs, kept by
// the standard library rather than built here. Two Uint64 calls a UUID
// cost a few ns; filling a 4 KiB buffer with its Read and copying the
// UUIDs out byte-wise (before 5d0945a) cost 90-103 ns a pair, and
// crypto/rand's getrandom call was 7% of a memory-bus publish's CPU.
var uuidPool = sync.Pool{New: func() any { return newUUIDGen() }}

// newUUIDGen returns a ChaCha8 generator under a fresh seed from
// crypto/rand.
func newUUIDGen() *mrand.ChaCha8 {
	var seed [32]byte
	// crypto/rand.Read never fails (since Go 1.24 it crashes the
	// program rather than return weak randomness).
	_, _ = rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}

// uuidFrom returns the next 128 bits of g as a version 4 UUID. The
// version and variant bits are set on the two 64-bit halves, not byte by
// byte: a byte store into a UUID that is then copied whole stalls the
// copy's wide load (store forwarding).
func uuidFrom(g *mrand.ChaCha8) uuid.UUID {
	hi := g.Uint64()&^0xf000 | 0x4000       // byte 6: version 4
	lo := g.Uint64()&^(0xc0<<56) | 0x80<<56 // byte 8: variant RFC 9562
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], hi)
	binary.BigEndian.PutUint64(u[8:], lo)
	return u
}

// newUUID returns a fresh random (version 4, RFC 9562 variant) UUID.
func newUUID() uuid.UUID {
	g := uuidPool.Get().(*mrand.ChaCha8)
	u := uuidFrom(g)
	uuidPool.Put(g)
	return u
}

// newUUIDPair is two newUUID calls for one trip to the pool (a publish
// with neither id set needs both).
func newUUIDPair() (a, b uuid.UUID) {
	g := uuidPool.Get().(*mrand.ChaCha8)
	a, b = uuidFrom(g), uuidFrom(g)
	uuidPool.Put(g)
	return a, b
}
