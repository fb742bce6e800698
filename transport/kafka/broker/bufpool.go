package broker

import "sync"

// maxPooledBuffer is the largest buffer kept for reuse: a larger frame or
// fetch response is rare and is left to the collector, so that a pooled
// buffer never pins much memory.
const maxPooledBuffer = 1 << 20

// bufPool recycles the byte buffers of the two requests that dominate a
// busy connection: produce frames (read, validated, copied into the log
// by AppendBatch and then dead) and the record batches of fetch responses
// (dead once the writer has encoded the response). A sync.Pool, not a
// buffer per connection: what is in use is bounded by the server's frame
// budget and the connection windows, and what the pool keeps idle is
// released by the collector, so memory grows with neither connections nor
// messages.
type bufPool struct{ p sync.Pool }

// get returns an empty buffer with room for at least n bytes.
func (b *bufPool) get(n int) *[]byte {
	if v, ok := b.p.Get().(*[]byte); ok && cap(*v) >= n {
		*v = (*v)[:0]
		return v
	}
	// A pooled buffer too small is dropped: the larger one made here
	// replaces it, so the pool follows the sizes in use.
	buf := make([]byte, 0, max(n, 4<<10))
	return &buf
}

// put gives buf back; the caller holds no reference into it any more.
func (b *bufPool) put(buf *[]byte) {
	if buf == nil || cap(*buf) > maxPooledBuffer {
		return
	}
	b.p.Put(buf)
}

var (
	// producePool holds produce request frames.
	producePool bufPool
	// fetchPool holds the record batches of fetch responses.
	fetchPool bufPool
)
