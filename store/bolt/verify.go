package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"os"

	"github.com/onexbus/onexbus/store"
)

// The bbolt v1 file format, as far as verify reads it.
const (
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHdrSize  = 16 // root pgid u64, sequence u64
	metaSize       = 64 // up to and including the checksum

	branchFlag   = 0x01
	leafFlag     = 0x02
	metaFlag     = 0x04
	freelistFlag = 0x10
	bucketFlag   = 0x01 // leaf element flag

	magic      = 0xED0CDAED
	version    = 2
	noFreelist = math.MaxUint64
	maxDepth   = 64
)

// meta is a decoded meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pages in use: every page id is below it
	txid     uint64
}

// verifier walks a bbolt file the way bbolt will, checking every page it
// will touch, so that bbolt never meets a corrupt page at Open: there,
// with NoFreelistSync, bbolt reports a damaged page by panicking in a
// goroutine of its own, which no recover can catch.
type verifier struct {
	path      string
	data      []byte
	pageSize  uint64
	meta      meta
	reachable pageSet
	freed     pageSet
}

// verify checks the bbolt file f; an empty file passes (bbolt will
// initialise it). It returns an error wrapping store.ErrCorrupt that names
// the page, or an I/O error.
func verify(f *os.File, path string) (err error) {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil
	}
	data, release, err := mapFile(f, fi.Size())
	if err != nil {
		return fmt.Errorf("bolt: open %s: %w", path, err)
	}
	defer func() {
		if rerr := release(); rerr != nil && err == nil {
			err = fmt.Errorf("bolt: open %s: unmap: %w", path, rerr)
		}
	}()
	v := &verifier{path: path, data: data}
	return v.run()
}

func (v *verifier) corrupt(page uint64, format string, args ...any) error {
	return fmt.Errorf("bolt: open %s: page %d: %s: %w", v.path, page, fmt.Sprintf(format, args...), store.ErrCorrupt)
}

func (v *verifier) run() error {
	m0, ok0 := v.readMeta(0)
	var m1 meta
	ok1 := false
	if ok0 {
		m1, ok1 = v.readMeta(uint64(m0.pageSize))
	} else {
		// Page 0 is damaged: find page 1 by trying every page size bbolt
		// tries.
		for i := range 15 {
			if m, ok := v.readMeta(1024 << i); ok && m.pageSize == 1024<<i {
				m1, ok1 = m, true
				break
			}
		}
	}
	switch {
	case ok0 && ok1:
		v.meta = m0
		if m1.txid > m0.txid {
			v.meta = m1
		}
	case ok0:
		v.meta = m0
	case ok1:
		v.meta = m1
	default:
		return fmt.Errorf("bolt: open %s: no valid meta page (not a bbolt file, or both meta pages damaged): %w", v.path, store.ErrCorrupt)
	}
	v.pageSize = uint64(v.meta.pageSize)
	if v.pageSize < 512 || v.pageSize&(v.pageSize-1) != 0 || v.pageSize > 1<<24 {
		return v.corrupt(0, "page size %d", v.pageSize)
	}
	if v.meta.hwm < 4 || v.meta.hwm > uint64(len(v.data))/v.pageSize {
		return fmt.Errorf("bolt: open %s: file of %d bytes holds %d pages of %d bytes, the meta page says %d (truncated?): %w",
			v.path, len(v.data), uint64(len(v.data))/v.pageSize, v.pageSize, v.meta.hwm, store.ErrCorrupt)
	}
	if v.meta.freelist != noFreelist {
		if err := v.checkFreelist(v.meta.freelist); err != nil {
			return err
		}
	}
	return v.walk(v.meta.root, nil, nil, 0)
}

// readMeta decodes and validates the meta page at offset off.
func (v *verifier) readMeta(off uint64) (meta, bool) {
	if off+pageHeaderSize+metaSize > uint64(len(v.data)) {
		return meta{}, false
	}
	p := v.data[off:]
	if binary.LittleEndian.Uint16(p[8:]) != metaFlag {
		return meta{}, false
	}
	b := p[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != magic || le.Uint32(b[4:]) != version {
		return meta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:56]) // hash.Hash never fails
	if h.Sum64() != le.Uint64(b[56:]) {
		return meta{}, false
	}
	return meta{
		pageSize: le.Uint32(b[8:]),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		hwm:      le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
	}, true
}

// page returns the bytes of page id with its overflow pages, its flags and
// its element count, after checking that it lies inside the used area and
// that no other reference reached it before.
func (v *verifier) page(id uint64) (p []byte, flags, count uint16, err error) {
	if id < 2 || id >= v.meta.hwm {
		return nil, 0, 0, v.corrupt(id, "page id out of range [2, %d)", v.meta.hwm)
	}
	hdr := v.data[id*v.pageSize:]
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		return nil, 0, 0, v.corrupt(id, "header names page %d", got)
	}
	flags = binary.LittleEndian.Uint16(hdr[8:])
	count = binary.LittleEndian.Uint16(hdr[10:])
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if id+overflow >= v.meta.hwm {
		return nil, 0, 0, v.corrupt(id, "%d overflow pages run past page %d", overflow, v.meta.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if v.reachable.has(i) {
			return nil, 0, 0, v.corrupt(i, "referenced twice")
		}
		if v.freed.has(i) {
			return nil, 0, 0, v.corrupt(i, "in use and in the freelist")
		}
		v.reachable.add(i)
	}
	return v.data[id*v.pageSize : (id+overflow+1)*v.pageSize], flags, count, nil
}

func (v *verifier) checkFreelist(id uint64) error {
	p, flags, count, err := v.page(id)
	if err != nil {
		return err
	}
	if flags != freelistFlag {
		return v.corrupt(id, "freelist page has flags %#x", flags)
	}
	start, n := uint64(pageHeaderSize), uint64(count)
	if count == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return v.corrupt(id, "freelist count missing")
		}
		n = binary.LittleEndian.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if n > (uint64(len(p))-start)/8 {
		return v.corrupt(id, "freelist of %d ids does not fit its page", n)
	}
	for i := range n {
		fid := binary.LittleEndian.Uint64(p[start+8*i:])
		if fid < 2 || fid >= v.meta.hwm {
			return v.corrupt(id, "freelist holds page id %d out of range [2, %d)", fid, v.meta.hwm)
		}
		if v.freed.has(fid) || v.reachable.has(fid) {
			return v.corrupt(fid, "freed twice or freed while in use")
		}
		v.freed.add(fid)
	}
	return nil
}

// walk checks the subtree at page id: its keys must be in [lo, hi) (nil
// meaning unbounded) and every bucket it holds is walked too.
func (v *verifier) walk(id uint64, lo, hi []byte, depth int) error {
	if depth > maxDepth {
		return v.corrupt(id, "tree deeper than %d", maxDepth)
	}
	p, flags, count, err := v.page(id)
	if err != nil {
		return err
	}
	switch flags {
	case branchFlag:
		if count == 0 {
			return v.corrupt(id, "empty branch page")
		}
		keys := make([][]byte, count)
		children := make([]uint64, count)
		for i := range int(count) {
			e, err := v.elem(id, p, i)
			if err != nil {
				return err
			}
			pos, ksize := uint64(binary.LittleEndian.Uint32(e)), uint64(binary.LittleEndian.Uint32(e[4:]))
			k, err := v.span(id, p, i, pos, ksize)
			if err != nil {
				return err
			}
			keys[i], children[i] = k, binary.LittleEndian.Uint64(e[8:])
		}
		if err := v.checkOrder(id, keys, lo, hi); err != nil {
			return err
		}
		for i, child := range children {
			clo, chi := keys[i], hi
			if i+1 < len(keys) {
				chi = keys[i+1]
			}
			if err := v.walk(child, clo, chi, depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafFlag:
		return v.leaf(id, p, count, lo, hi, depth)
	default:
		return v.corrupt(id, "invalid page type %#x in the tree", flags)
	}
}

// leaf checks the leaf page p (a page of the file, or an inline bucket's
// page inside a value, reported as page id).
func (v *verifier) leaf(id uint64, p []byte, count uint16, lo, hi []byte, depth int) error {
	keys := make([][]byte, 0, count)
	for i := range int(count) {
		e, err := v.elem(id, p, i)
		if err != nil {
			return err
		}
		le := binary.LittleEndian
		eflags, pos, ksize, vsize := le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		kv, err := v.span(id, p, i, pos, ksize+vsize)
		if err != nil {
			return err
		}
		keys = append(keys, kv[:ksize])
		if eflags&bucketFlag == 0 {
			continue
		}
		val := kv[ksize:]
		if len(val) < bucketHdrSize {
			return v.corrupt(id, "element %d: bucket header of %d bytes", i, len(val))
		}
		if root := le.Uint64(val); root != 0 {
			if err := v.walk(root, nil, nil, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := val[bucketHdrSize:]
		if len(inline) < pageHeaderSize || le.Uint16(inline[8:]) != leafFlag {
			return v.corrupt(id, "element %d: inline bucket is not a leaf page", i)
		}
		if err := v.leaf(id, inline, le.Uint16(inline[10:]), nil, nil, depth+1); err != nil {
			return err
		}
	}
	return v.checkOrder(id, keys, lo, hi)
}

// elem returns element i of page p.
func (v *verifier) elem(id uint64, p []byte, i int) ([]byte, error) {
	off := pageHeaderSize + i*elemSize
	if off+elemSize > len(p) {
		return nil, v.corrupt(id, "element %d past the end of the page", i)
	}
	return p[off : off+elemSize], nil
}

// span returns the n bytes at pos from element i, as bbolt addresses them.
func (v *verifier) span(id uint64, p []byte, i int, pos, n uint64) ([]byte, error) {
	start := uint64(pageHeaderSize+i*elemSize) + pos
	if start+n > uint64(len(p)) || start+n < start {
		return nil, v.corrupt(id, "element %d: %d bytes at %d run past the page (%d bytes)", i, n, start, len(p))
	}
	return p[start : start+n], nil
}

// checkOrder checks that keys are non-empty, strictly ascending and in
// [lo, hi).
func (v *verifier) checkOrder(id uint64, keys [][]byte, lo, hi []byte) error {
	for i, k := range keys {
		if len(k) == 0 {
			return v.corrupt(id, "element %d: empty key", i)
		}
		if i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			return v.corrupt(id, "element %d: key %x not above the previous %x", i, k, keys[i-1])
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if lo != nil && bytes.Compare(keys[0], lo) < 0 {
		return v.corrupt(id, "first key %x below its parent's %x", keys[0], lo)
	}
	if hi != nil && bytes.Compare(keys[len(keys)-1], hi) >= 0 {
		return v.corrupt(id, "last key %x not below the next parent key %x", keys[len(keys)-1], hi)
	}
	return nil
}

// pageSet is a set of page ids, one bit a page: a 1 GiB file of 4 KiB
// pages takes 32 KiB, where a map took tens of MiB and a third of Open.
type pageSet []uint64

func (s pageSet) has(id uint64) bool {
	return id/64 < uint64(len(s)) && s[id/64]&(1<<(id%64)) != 0
}

func (s *pageSet) add(id uint64) {
	for uint64(len(*s)) <= id/64 {
		*s = append(*s, make([]uint64, max(len(*s), 64))...)
	}
	(*s)[id/64] |= 1 << (id % 64)
}
