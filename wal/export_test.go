package wal

// WithoutChunkExtension makes every commit store its chunks under keys of
// their own, never extending the newest stored chunk (extend.go): for
// tests that damage or drop one chunk of a layout of one chunk per
// Append.
func WithoutChunkExtension() Option { return func(c *config) { c.noExtend = true } }
