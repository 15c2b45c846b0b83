package token

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func TestNewParse(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		tok, id, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok.Reveal()) != Len {
			t.Fatalf("len = %d, want %d", len(tok.Reveal()), Len)
		}
		got, err := Parse(tok.Reveal())
		if err != nil || got != id {
			t.Fatalf("Parse(%q) = %q, %v; want %q", tok.Reveal(), got, err, id)
		}
		if seen[tok.Reveal()] {
			t.Fatal("duplicate token")
		}
		seen[tok.Reveal()] = true
	}
}

func TestWidths(t *testing.T) {
	for _, c := range []struct{ bytes, width int }{{5, idLen}, {32, secretLen}, {4, sumLen}} {
		maxv := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*c.bytes)), big.NewInt(1))
		capacity := new(big.Int).Exp(big.NewInt(62), big.NewInt(int64(c.width)), nil)
		if maxv.Cmp(capacity) >= 0 {
			t.Errorf("%d bytes do not fit %d base62 characters", c.bytes, c.width)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tok, _, _ := New()
	good := tok.Reveal()
	flip := []byte(good)
	if flip[20] == 'a' {
		flip[20] = 'b'
	} else {
		flip[20] = 'a'
	}
	for name, in := range map[string]string{
		"empty":       "",
		"typo":        string(flip),
		"no prefix":   "xoster_" + good[len(Prefix):],
		"short":       good[:len(good)-1],
		"long":        good + "0",
		"bad char":    good[:30] + "-" + good[31:],
		"other token": "ghp_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijklmnopqrst",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(in); err != ErrMalformed {
				t.Errorf("Parse(%q) err = %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestSecretRedacts(t *testing.T) {
	tok, id, _ := New()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("issued", "token", tok)
	out := buf.String() + fmt.Sprint(tok) + fmt.Sprintf("%v %s", tok, tok)
	if strings.Contains(out, tok.Reveal()) {
		t.Fatalf("token leaked: %s", out)
	}
	if !strings.Contains(out, Prefix+id) {
		t.Errorf("redacted form should keep the public id: %s", out)
	}
}

func TestEqual(t *testing.T) {
	a, _, _ := New()
	b, _, _ := New()
	if !Equal(a.Reveal(), Hash(a.Reveal())) {
		t.Error("Equal(a, Hash(a)) = false")
	}
	if Equal(b.Reveal(), Hash(a.Reveal())) {
		t.Error("Equal(b, Hash(a)) = true")
	}
}
