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
