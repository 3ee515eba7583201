package syncproto_test

import (
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		New: func(*testing.T) sp.Store { return sp.NewMemStore() },
	})
}
