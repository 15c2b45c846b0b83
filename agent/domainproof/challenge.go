// Package domainproof implements email-domain proof by DNS TXT: an
// organisation publishes a random challenge value in a TXT record under
// _roster-challenge.<domain>, and Roster checks it by asking the zone's
// authoritative name servers directly (docs/domain-proof.md#authoritative-check).
//
// The package is pure logic plus DNS: it stores nothing and schedules
// nothing. Callers persist the Challenge, call Checker.Check on their own
// schedule and decide what a Result means for the domain's state. A Retry
// result (SERVFAIL, REFUSED, timeouts, network errors) must never be treated
// as "record removed".
package domainproof

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// RecordLabel is the underscore label under which the challenge TXT record is
// published; an application-specific label avoids clashes with hostnames and
// apex TXT RRsets (draft-ietf-dnsop-domain-verification-techniques §6.2).
const RecordLabel = "_roster-challenge"

// ValuePrefix starts every challenge value.
const ValuePrefix = "roster-verification="

// tokenBytes is the number of random bytes in a challenge token: 160 bits,
// which is 32 base32 characters without padding.
const tokenBytes = 20

// ErrInvalidDomain is returned (wrapped) for names that cannot be verified:
// empty, malformed, IP addresses, single labels, too long.
var ErrInvalidDomain = errors.New("invalid domain")

// ErrPublicSuffix is returned (wrapped) for names that are themselves a
// public suffix, such as "com" or "co.uk"; nobody can prove they own those.
var ErrPublicSuffix = errors.New("domain is a public suffix")

// token32 is lower-case RFC 4648 base32 without padding: case-insensitive
// DNS UIs cannot break it and it would fit in a DNS label.
var token32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idnaProfile is UTS #46 lookup processing (which also lower-cases and maps
// full-width characters) with STD3 rules and DNS length checks.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// Challenge is what an organisation must publish to prove it owns Domain: a
// TXT record at RecordName whose value is exactly Value.
type Challenge struct {
	Domain     string // normalised A-label form, e.g. "xn--bcher-kva.example"
	RecordName string // "_roster-challenge.<Domain>", without trailing dot
	Value      string // "roster-verification=<32 lower-case base32 chars>"
}

// NewChallenge normalises domain with NormalizeDomain and returns a challenge
// carrying a fresh 160-bit random value from crypto/rand.
func NewChallenge(domain string) (Challenge, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Challenge{}, fmt.Errorf("new challenge: %w", err)
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return Challenge{}, fmt.Errorf("new challenge: random token: %w", err)
	}
	return Challenge{
		Domain:     d,
		RecordName: RecordLabel + "." + d,
		Value:      ValuePrefix + token32.EncodeToString(b),
	}, nil
}

// NormalizeDomain returns the canonical A-label form of an email domain:
// surrounding space and one trailing dot removed, IDNA (UTS #46) mapped to
// ASCII, lower-cased. It rejects empty and malformed names, IP addresses,
// single-label names such as "localhost" (ErrInvalidDomain) and names that
// are themselves a public suffix such as "com" or "co.uk" (ErrPublicSuffix),
// including private-section suffixes such as "github.io".
func NormalizeDomain(s string) (string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("%w: empty name", ErrInvalidDomain)
	}
	if isIP(s) {
		return "", fmt.Errorf("%w: %q is an IP address, not a domain", ErrInvalidDomain, s)
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidDomain, s, err)
	}
	a = strings.ToLower(a)
	if isIP(a) {
		return "", fmt.Errorf("%w: %q is an IP address, not a domain", ErrInvalidDomain, s)
	}
	labels := strings.Split(a, ".")
	ps, icann := publicsuffix.PublicSuffix(a)
	if ps == a && (icann || len(labels) > 1) {
		return "", fmt.Errorf("%w: %q; verify a domain registered under it instead", ErrPublicSuffix, a)
	}
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: %q is a single label; use a registered domain such as example.com", ErrInvalidDomain, s)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("%w: %q has an empty or over-long label", ErrInvalidDomain, s)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", fmt.Errorf("%w: %q ends in a numeric label", ErrInvalidDomain, s)
	}
	// Room for "_roster-challenge." in front must remain within 253 octets.
	if len(RecordLabel)+1+len(a) > 253 {
		return "", fmt.Errorf("%w: %q is too long", ErrInvalidDomain, s)
	}
	return a, nil
}

func isIP(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return net.ParseIP(s) != nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
