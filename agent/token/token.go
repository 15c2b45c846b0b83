// Package token creates and checks Roster's Secret Tokens: the long-lived
// bearer tokens Entra sends on every SCIM request.
//
// Format (docs/architecture.md#secret-tokens, after GitHub's token design):
//
//	roster_ <8 base62: public id> <43 base62: 256-bit secret> <6 base62: CRC32>
//
// The prefix makes leaked tokens recognisable to secret scanners; "_" keeps a
// double-click selecting the whole token; the public id finds the record
// without revealing anything; the checksum rejects typos and random strings
// without touching the database. Only a SHA-256 digest of the token is stored
// and digests are compared in constant time.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash/crc32"
	"log/slog"
	"math/big"
	"strings"
)

// Prefix starts every Roster Secret Token.
const Prefix = "roster_"

const (
	idLen     = 8  // 5 random bytes: 62^8 > 2^40
	secretLen = 43 // 32 random bytes: 62^43 > 2^256
	sumLen    = 6  // CRC32: 62^6 > 2^32
	// Len is the length of a token in characters.
	Len = len(Prefix) + idLen + secretLen + sumLen
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is returned by Parse for strings that are not Roster tokens.
var ErrMalformed = errors.New("not a Roster Secret Token")

// Secret is a token in clear text. It redacts itself in logs and fmt %v.
type Secret string

// String returns a redacted form; use Reveal for the token itself.
func (s Secret) String() string { return redact(string(s)) }

// LogValue implements slog.LogValuer: logs only ever see the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redact(string(s))) }

// Reveal returns the token in clear text, for the one time it is shown.
func (s Secret) Reveal() string { return string(s) }

func redact(s string) string {
	if id, err := Parse(s); err == nil {
		return Prefix + id + "…"
	}
	return "[redacted]"
}

// New returns a fresh token and its public id.
func New() (Secret, string, error) {
	id, err := randomBase62(5, idLen)
	if err != nil {
		return "", "", err
	}
	secret, err := randomBase62(32, secretLen)
	if err != nil {
		return "", "", err
	}
	body := Prefix + id + secret
	return Secret(body + checksum(body)), id, nil
}

// Parse checks a token's shape and checksum and returns its public id.
func Parse(tok string) (string, error) {
	if len(tok) != Len || !strings.HasPrefix(tok, Prefix) {
		return "", ErrMalformed
	}
	rest := tok[len(Prefix):]
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(alphabet, rest[i]) < 0 {
			return "", ErrMalformed
		}
	}
	body, sum := tok[:len(tok)-sumLen], tok[len(tok)-sumLen:]
	if subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(sum)) != 1 {
		return "", ErrMalformed
	}
	return rest[:idLen], nil
}

// Hash returns the digest that is stored for a token.
func Hash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Equal compares a presented token with a stored digest in constant time.
func Equal(tok string, digest []byte) bool {
	return subtle.ConstantTimeCompare(Hash(tok), digest) == 1
}

func checksum(body string) string {
	return encode(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), sumLen)
}

func randomBase62(nbytes, width int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return encode(new(big.Int).SetBytes(b), width), nil
}

// encode writes n in base62, left-padded with '0' to width characters.
func encode(n *big.Int, width int) string {
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	if n.Sign() != 0 {
		panic("token: value does not fit its width") // guarded by the width constants and TestWidths
	}
	return string(out)
}
