package message

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/google/uuid"
)

// uuidPool hands out version 4 UUIDs from random bytes read ahead, so
// that making one does not allocate (uuid.New without
// uuid.EnableRandPool allocates, and EnableRandPool is a process-wide
// switch that is not ours to flip). It is a sync.Pool of buffers, not one
// buffer under a mutex: publishers on several cores each take a buffer
// of their own, where one mutex, held while the buffer was refilled, made
// them wait for each other. A buffer is taken by one caller at a time, so
// no byte is handed out twice; a buffer the GC drops loses only unused
// random bytes.
//
// Each buffer refills from a generator of its own: AES-256 in counter
// mode under a key from crypto/rand, rekeyed every rekeyEvery refills
// from its own output ("fast key erasure": those 32 bytes are the next
// key and are never handed out, so the key in memory tells nothing of
// the UUIDs made under the keys before). That is the core of NIST SP 800-90A's
// CTR_DRBG, a cryptographically strong stream, as RFC 9562 asks of
// version 4 UUIDs. With AES instructions it makes the bytes of a UUID
// pair in about 5 ns, where math/rand/v2's ChaCha8 (used before) took
// about 40 and crypto/rand (whose getrandom call was 7% of a memory-bus
// publish's CPU before buffering) still more.
var uuidPool = sync.Pool{New: func() any {
	var key [32]byte
	// crypto/rand.Read never fails (since Go 1.24 it crashes the
	// program rather than return weak randomness).
	_, _ = rand.Read(key[:])
	r := &uuidBuf{pos: len(uuidBuf{}.buf)}
	r.rekey(key[:])
	return r
}}

// uuidBuf is random bytes read ahead, of which buf[pos:] are unused, and
// the generator that refills it.
type uuidBuf struct {
	buf     [16 * 256]byte
	pos     int
	refills int // since the last rekey
	stream  cipher.Stream
}

// rekeyEvery is how many refills (of 256 UUIDs) one key makes: a new
// cipher and counter take two small allocations, which at every refill
// were most of a refill's cost.
const rekeyEvery = 16

// rekey starts the counter stream under key (32 bytes).
func (r *uuidBuf) rekey(key []byte) {
	// NewCipher fails only for a key that is not 16, 24 or 32 bytes long.
	blk, _ := aes.NewCipher(key)
	var iv [aes.BlockSize]byte
	r.stream = cipher.NewCTR(blk, iv[:])
}

// refill makes buf all fresh from the counter stream, and every
// rekeyEvery refills moves to the next key, taken from the stream (so a
// key is never used twice: each comes from the stream of the key before)
// and never handed out. One key's stream is 64 KiB, far inside the 2^128
// blocks before its counter would repeat.
func (r *uuidBuf) refill() {
	if r.refills++; r.refills == rekeyEvery {
		var next [32]byte
		r.stream.XORKeyStream(next[:], next[:])
		r.rekey(next[:])
		clear(next[:])
		r.refills = 0
	}
	clear(r.buf[:])
	r.stream.XORKeyStream(r.buf[:], r.buf[:])
	r.pos = 0
}

// take returns the next 16 random bytes as a version 4 UUID. The
// version and variant bits are set on the two 64-bit halves, not byte by
// byte: a byte store into a UUID that is then copied whole stalls the
// copy's wide load (store forwarding), which was most of the cost of a
// UUID pair.
func (r *uuidBuf) take() uuid.UUID {
	if r.pos > len(r.buf)-16 {
		r.refill()
	}
	p := r.buf[r.pos : r.pos+16]
	r.pos += 16
	hi := binary.BigEndian.Uint64(p[:8])
	lo := binary.BigEndian.Uint64(p[8:])
	hi = hi&^0xf000 | 0x4000       // byte 6: version 4
	lo = lo&^(0xc0<<56) | 0x80<<56 // byte 8: variant RFC 9562
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], hi)
	binary.BigEndian.PutUint64(u[8:], lo)
	return u
}

// newUUID returns a fresh random (version 4, RFC 9562 variant) UUID.
func newUUID() uuid.UUID {
	r := uuidPool.Get().(*uuidBuf)
	u := r.take()
	uuidPool.Put(r)
	return u
}

// newUUIDPair is two newUUID calls for one trip to the pool (a publish
// with neither id set needs both).
func newUUIDPair() (a, b uuid.UUID) {
	r := uuidPool.Get().(*uuidBuf)
	a, b = r.take(), r.take()
	uuidPool.Put(r)
	return a, b
}
