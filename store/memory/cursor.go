package memory

// cursor states; see store.Cursor for what each one means.
const (
	unpositioned = iota
	atKey
	pastEnd
	beforeStart
)

// cursor implements store.Cursor over a bucket's data. (li, j) is the
// position of key, valid while mod equals the data's mod; after a
// structural change the cursor finds its place again from key.
type cursor struct {
	d     *data
	state int
	key   []byte
	li, j int
	mod   uint64
}

// at positions the cursor on (li, j), or past the end if there is no such
// entry, and returns the entry.
func (c *cursor) at(li, j int) (key, value []byte) {
	if li >= len(c.d.leaves) || li < 0 {
		c.state, c.key = pastEnd, nil
		return nil, nil
	}
	e := c.d.leaves[li][j]
	c.state, c.key, c.li, c.j, c.mod = atKey, e.key(), li, j, c.d.mod
	return e.key(), e.value()
}

func (c *cursor) First() (key, value []byte) {
	return c.at(0, 0)
}

func (c *cursor) Last() (key, value []byte) {
	n := len(c.d.leaves)
	if n == 0 {
		c.state, c.key = pastEnd, nil
		return nil, nil
	}
	return c.at(n-1, len(c.d.leaves[n-1])-1)
}

func (c *cursor) Seek(key []byte) (k, value []byte) {
	li, j, _ := c.d.search(key)
	return c.at(c.d.normalize(li, j))
}

func (c *cursor) Next() (key, value []byte) {
	switch c.state {
	case unpositioned, beforeStart:
		return c.First()
	case pastEnd:
		return nil, nil
	}
	if c.mod != c.d.mod {
		li, j, found := c.d.search(c.key)
		if found {
			j++
		}
		return c.at(c.d.normalize(li, j))
	}
	if c.j+1 < len(c.d.leaves[c.li]) {
		return c.at(c.li, c.j+1)
	}
	return c.at(c.li+1, 0)
}

func (c *cursor) Prev() (key, value []byte) {
	switch c.state {
	case unpositioned, pastEnd:
		return c.Last()
	case beforeStart:
		return nil, nil
	}
	li, j := c.li, c.j
	if c.mod != c.d.mod {
		// The position of the first key >= c.key; the one before it is
		// the last key < c.key.
		li, j, _ = c.d.search(c.key)
		li, j = c.d.normalize(li, j)
	}
	if j > 0 {
		return c.at(li, j-1)
	}
	if li > 0 {
		return c.at(li-1, len(c.d.leaves[li-1])-1)
	}
	c.state, c.key = beforeStart, nil
	return nil, nil
}
