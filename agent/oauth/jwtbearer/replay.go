package jwtbearer

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// replayCache remembers accepted assertions until they expire (RFC 7523 §3
// item 7). It is bounded: when it is full of unexpired entries it refuses new
// ones instead of forgetting old ones, which could then be replayed.
type replayCache struct {
	max int

	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
	order expiryHeap // the same entries, soonest expiry first
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, until: map[[sha256.Size]byte]time.Time{}}
}

// add records key until the time until, or fails if key is already recorded
// (ErrReplayed) or the cache is full (ErrReplayCacheFull). Entries whose time
// passed at now are dropped first.
func (r *replayCache) add(key [sha256.Size]byte, until, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.order) > 0 && !now.Before(r.order[0].until) {
		e := heap.Pop(&r.order).(expiry)
		delete(r.until, e.key)
	}
	if u, ok := r.until[key]; ok {
		return fmt.Errorf("%w: the same jti (or, without one, the same signed claims) was accepted before and is remembered until %s",
			ErrReplayed, u.UTC().Format(time.RFC3339))
	}
	if len(r.until) >= r.max {
		return fmt.Errorf("%w: %d unexpired assertions are remembered, the most allowed; refusing this one rather than forgetting one that could then be replayed (the soonest expires at %s)",
			ErrReplayCacheFull, len(r.until), r.order[0].until.UTC().Format(time.RFC3339))
	}
	r.until[key] = until
	heap.Push(&r.order, expiry{key: key, until: until})
	return nil
}

// expiry is one entry of expiryHeap.
type expiry struct {
	key   [sha256.Size]byte
	until time.Time
}

// expiryHeap is a container/heap of entries, soonest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
