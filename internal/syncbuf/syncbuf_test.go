package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/internal/syncbuf"
)

// TestConcurrentWrites writes from several goroutines while reading; under
// -race this fails if Buffer is not synchronised, and every line must arrive
// whole.
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(&b, "g%d-%d\n", g, i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if got, want := len(lines), 800; got != want {
		t.Fatalf("got %d lines, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for g := range 8 {
		for i := range 100 {
			if l := fmt.Sprintf("g%d-%d", g, i); !seen[l] {
				t.Fatalf("line %q missing", l)
			}
		}
	}
}
