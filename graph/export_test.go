package graph

import (
	"errors"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// SimulateNoSecretStorage makes the persistent token cache unavailable, as
// on a machine without a keyring, until the test ends.
func SimulateNoSecretStorage(t testing.TB) {
	prev := newTokenCache
	reset := func() {
		tokenCacheOnce = sync.Once{}
		tokenCache, tokenCacheErr = azidentity.Cache{}, nil
	}
	newTokenCache = func() (azidentity.Cache, error) {
		return azidentity.Cache{}, errors.New("persistent storage isn't available (simulated)")
	}
	reset()
	t.Cleanup(func() { newTokenCache = prev; reset() })
}
