package kbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultDecompressLimit is the most bytes Decompress expands a batch's
// record section to: 64 MiB, 64 times Kafka's default max.message.bytes.
const DefaultDecompressLimit = 64 << 20

// Decompress appends the decompressed record section of the batch b (which
// starts at BaseOffset and is described by h) to dst and returns the
// extended slice, bounded by DefaultDecompressLimit. See DecompressLimit.
func Decompress(h Header, b []byte, dst []byte) ([]byte, error) {
	return DecompressLimit(h, b, dst, DefaultDecompressLimit)
}

// DecompressLimit appends the decompressed record section of the batch b
// (which starts at BaseOffset and is described by h) to dst, refusing to
// produce more than limit bytes, and returns the extended slice. For
// CodecNone the section is appended as it is (a caller that only reads can
// use b[HeaderSize:h.Len()] instead). Snappy accepts both raw blocks and
// the xerial framing the Java client writes. The output is not walked; use
// ForEachRecord.
//
// Memory: gzip and lz4 stop reading one byte past limit, snappy checks the
// declared sizes before decoding, and zstd lets the decoder produce up to
// max(limit, 8 MiB) before the output is checked against limit.
//
// Errors: ErrTruncated when b is shorter than h says, ErrCodec, ErrTooLarge,
// and ErrDecompress wrapping the codec's error.
func DecompressLimit(h Header, b []byte, dst []byte, limit int) ([]byte, error) {
	limit = max(limit, 0)
	end := h.Len()
	if h.Length < minLength || len(b) < end {
		return dst, fmt.Errorf("kbatch: decompress: batch of %d bytes, have %d: %w", end, len(b), ErrTruncated)
	}
	src := b[HeaderSize:end]
	c := h.Codec()
	var out []byte
	var err error
	switch c {
	case CodecNone:
		if len(src) > limit {
			return dst, fmt.Errorf("kbatch: %d record bytes, limit %d: %w", len(src), limit, ErrTooLarge)
		}
		return append(dst, src...), nil
	case CodecGzip:
		out, err = gunzip(dst, src, limit)
	case CodecSnappy:
		out, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		out, err = unlz4(dst, src, limit)
	case CodecZstd:
		out, err = unzstd(dst, src, limit)
	default:
		return dst, fmt.Errorf("kbatch: decompress codec %d: %w", int8(c), ErrCodec)
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return dst, fmt.Errorf("kbatch: %v records, limit %d bytes: %w", c, limit, err)
		}
		return dst, fmt.Errorf("kbatch: %v records: %w: %w", c, ErrDecompress, err)
	}
	return out, nil
}

// Compress appends raw, an encoded record section, compressed with codec to
// dst and returns the extended slice. CodecNone appends raw as it is.
// Snappy writes a raw block (what franz-go and librdkafka send; every
// client reads it).
//
// Errors: ErrCodec, and ErrCompress wrapping the codec's error.
func Compress(codec Codec, raw, dst []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, raw...), nil
	case CodecGzip:
		return streamCompress(dst, raw, &gzipWriters, codec)
	case CodecSnappy:
		n := snappy.MaxEncodedLen(len(raw))
		if n < 0 {
			return dst, fmt.Errorf("kbatch: snappy input of %d bytes: %w", len(raw), ErrCompress)
		}
		dst = grow(dst, n)
		enc := snappy.Encode(dst[len(dst):len(dst)+n], raw)
		return dst[:len(dst)+len(enc)], nil
	case CodecLZ4:
		return streamCompress(dst, raw, &lz4Writers, codec)
	case CodecZstd:
		return zstdEncoder().EncodeAll(raw, dst), nil
	}
	return dst, fmt.Errorf("kbatch: compress codec %d: %w", int8(codec), ErrCodec)
}

// grow returns dst with room for n more bytes.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	g := make([]byte, len(dst), len(dst)+n)
	copy(g, dst)
	return g
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// resetWriter is a pooled stream compressor.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

type pooledWriter struct {
	w   resetWriter
	out appendWriter
}

var (
	gzipWriters = sync.Pool{New: func() any {
		p := new(pooledWriter)
		p.w = gzip.NewWriter(&p.out)
		return p
	}}
	lz4Writers = sync.Pool{New: func() any {
		p := new(pooledWriter)
		p.w = lz4.NewWriter(&p.out)
		return p
	}}
)

func streamCompress(dst, raw []byte, pool *sync.Pool, codec Codec) ([]byte, error) {
	p := pool.Get().(*pooledWriter)
	defer func() {
		p.out.b = nil
		pool.Put(p)
	}()
	p.out.b = dst
	p.w.Reset(&p.out)
	if _, err := p.w.Write(raw); err != nil {
		return dst, fmt.Errorf("kbatch: %v: %w: %w", codec, ErrCompress, err)
	}
	if err := p.w.Close(); err != nil {
		return dst, fmt.Errorf("kbatch: %v: %w: %w", codec, ErrCompress, err)
	}
	return p.out.b, nil
}

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

// zstdEncoder returns the shared encoder; EncodeAll is safe for concurrent
// use. Options as franz-go's producer: a 64 KiB window, one goroutine.
func zstdEncoder() *zstd.Encoder {
	zstdEncOnce.Do(func() {
		// NewWriter fails only on invalid options, and these are constant.
		zstdEnc, _ = zstd.NewWriter(nil, zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	})
	return zstdEnc
}

// readLimited appends everything r yields to dst, failing with ErrTooLarge
// as soon as more than limit bytes were read.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(512, len(dst)-start))
		}
		room := dst[len(dst):cap(dst)]
		// Read at most one byte past the limit: enough to see the overflow.
		if left := limit + 1 - (len(dst) - start); len(room) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

type gzipReader struct {
	src bytes.Reader
	r   gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	g := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(g)
	g.src.Reset(src)
	if err := g.r.Reset(&g.src); err != nil {
		return dst, err
	}
	out, err := readLimited(dst, &g.r, limit)
	g.src.Reset(nil)
	return out, err
}

type lz4Reader struct {
	src bytes.Reader
	r   *lz4.Reader
}

var lz4Readers = sync.Pool{New: func() any { return &lz4Reader{r: lz4.NewReader(nil)} }}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	l := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(l)
	l.src.Reset(src)
	l.r.Reset(&l.src)
	out, err := readLimited(dst, l.r, limit)
	l.src.Reset(nil)
	return out, err
}

// zstdDecoder is a pooled decoder and the memory limit it was last set to.
type zstdDecoder struct {
	d     *zstd.Decoder
	limit int
}

var zstdDecoders = sync.Pool{New: func() any {
	// NewReader fails only on invalid options, and these are constant.
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(DefaultDecompressLimit))
	z := &zstdDecoder{d: d, limit: DefaultDecompressLimit}
	runtime.AddCleanup(z, func(d *zstd.Decoder) { d.Close() }, d)
	return z
}}

// zstdMinMemory is the least the zstd decoder is allowed to produce before
// it stops: a frame declares a window (64 KiB from franz-go, up to 8 MiB
// from other clients), and the decoder refuses windows above its limit
// even for small contents, so a small limit is enforced on the output
// instead.
const zstdMinMemory = 8 << 20

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	mem := max(limit, zstdMinMemory)
	z := zstdDecoders.Get().(*zstdDecoder)
	defer zstdDecoders.Put(z)
	if z.limit != mem {
		if err := z.d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(mem))); err != nil {
			return dst, err
		}
		z.limit = mem
	}
	start := len(dst)
	out, err := z.d.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return dst, ErrTooLarge
	}
	if err != nil {
		return dst, err
	}
	if len(out)-start > limit {
		return dst, ErrTooLarge
	}
	return out, nil
}

// xerialMagic starts the xerial snappy framing (the Java client's
// SnappyOutputStream): the magic, then a 4-byte version and a 4-byte
// minimum compatible version, then blocks of a 4-byte big-endian length and
// a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) >= xerialHeaderLen && bytes.HasPrefix(src, xerialMagic) {
		return unxerial(dst, src[xerialHeaderLen:], limit)
	}
	return snappyBlock(dst, src, limit)
}

// snappyBlock appends one raw snappy block, checking its declared length
// against limit before allocating.
func snappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit {
		return dst, ErrTooLarge
	}
	dst = grow(dst, n)
	out, err := snappy.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst[:len(dst)], err
	}
	if len(out) != n {
		return dst, fmt.Errorf("snappy block decoded to %d bytes, declared %d", len(out), n)
	}
	return dst[:len(dst)+n], nil
}

var errXerial = errors.New("malformed xerial snappy framing")

func unxerial(dst, src []byte, limit int) ([]byte, error) {
	start := len(dst)
	for len(src) > 0 {
		if len(src) < 4 {
			return dst[:start], errXerial
		}
		size := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(size) > uint64(len(src)) {
			return dst[:start], errXerial
		}
		var err error
		dst, err = snappyBlock(dst, src[:size], limit-(len(dst)-start))
		if err != nil {
			return dst[:start], err
		}
		src = src[size:]
	}
	return dst, nil
}
