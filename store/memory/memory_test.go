package memory_test

import (
	"testing"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

// The memory store says it is volatile, so the log skips the CRC checks
// that only catch damage at rest (store.Volatile).
var _ store.Volatile = (*memory.Store)(nil)
