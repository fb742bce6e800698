//go:build !unix

package node

import "time"

// processCPU is not measured on this platform: heartbeats report 0%.
func processCPU() (time.Duration, bool) { return 0, false }
