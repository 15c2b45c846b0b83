package directory

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendJSONString checks the hand-written escaper against
// encoding/json: the same string comes back, invalid UTF-8 included.
func TestAppendJSONString(t *testing.T) {
	pieces := []string{"a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "日", "😀", "<", ">", "&", "\u2028", "\xff", "\xe6\x97", "\xc3"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		var sb strings.Builder
		for k := rng.IntN(10); k > 0; k-- {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := sb.String()
		got := appendJSONString([]byte("x"), s)
		if got[0] != 'x' {
			t.Fatalf("prefix lost: %q", got)
		}
		var back string
		if err := json.Unmarshal(got[1:], &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not a JSON string: %v", s, got[1:], err)
		}
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want) //nolint:errcheck
		if back != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
		three := appendJSONString3(nil, s[:len(s)/2], "/Groups/", s[len(s)/2:])
		if err := json.Unmarshal(three, &back); err != nil {
			t.Fatalf("appendJSONString3: %s: %v", three, err)
		}
	}
}
