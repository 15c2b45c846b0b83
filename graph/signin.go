package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity/cache"
)

// A remembered device code sign-in has two parts
// (https://aka.ms/azsdk/go/identity/caching):
//
//   - the tokens, in azidentity's persistent cache. On Linux it is a file
//     under $XDG_CACHE_HOME/.IdentityService (default ~/.cache), encrypted
//     with a key kept in the user's kernel keyring, so the file alone reveals
//     nothing and the key is gone after a reboot; macOS uses the keychain and
//     Windows DPAPI. Where no such storage works, nothing is cached: never a
//     plaintext refresh token on disk.
//   - an azidentity.AuthenticationRecord (which account, which authority; no
//     secret), saved in Config.SignInRecord, which lets the next process find
//     that account's tokens in the cache and sign in silently.

// tokenCacheName names Roster's persistent token cache (its file, and its
// key in the keyring).
const tokenCacheName = "roster-graph"

// newTokenCache opens the persistent cache; tests replace it to simulate a
// machine without secret storage.
var newTokenCache = func() (azidentity.Cache, error) {
	return cache.New(&cache.Options{Name: tokenCacheName})
}

var (
	tokenCacheOnce sync.Once
	tokenCache     azidentity.Cache
	tokenCacheErr  error
)

// persistentCache opens the token cache once per process.
func persistentCache() (azidentity.Cache, error) {
	tokenCacheOnce.Do(func() { tokenCache, tokenCacheErr = newTokenCache() })
	return tokenCache, tokenCacheErr
}

// TokenCacheAvailable reports why a sign-in cannot be remembered on this
// machine (no keyring, keychain or DPAPI that works), or nil if it can.
func TokenCacheAvailable() error {
	_, err := persistentCache()
	return err
}

// noCacheNotice is what Config.Notice hears, once per Client, when the
// sign-in cannot be remembered.
func noCacheNotice(err error) string {
	return fmt.Sprintf("The Graph sign-in will not be remembered: this system offers no secret storage for tokens (%v). Roster never writes tokens to disk unencrypted, so each command asks for a new sign-in.", err)
}

// savedSignIn is the SignInRecord file: the record, and the settings it was
// made with, so that a record for another tenant, client or authority is
// not used.
type savedSignIn struct {
	Tenant    string                          `json:"tenant"`
	ClientID  string                          `json:"client_id"`
	Authority string                          `json:"authority"`
	Record    azidentity.AuthenticationRecord `json:"record"`
}

func (s savedSignIn) matches(tenant, clientID, authority string) bool {
	return s.Tenant == tenant && s.ClientID == clientID && s.Authority == authority
}

// loadSignIn reads the record saved for these settings; a missing, unreadable
// or foreign one gives the zero record (a new sign-in).
func loadSignIn(file, tenant, clientID, authority string) azidentity.AuthenticationRecord {
	b, err := os.ReadFile(file)
	if err != nil {
		return azidentity.AuthenticationRecord{}
	}
	var s savedSignIn
	if json.Unmarshal(b, &s) != nil || !s.matches(tenant, clientID, authority) {
		return azidentity.AuthenticationRecord{}
	}
	return s.Record
}

// saveSignIn writes the record atomically, readable by its owner only.
func saveSignIn(file string, s savedSignIn) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".signin-*")
	if err != nil {
		return fmt.Errorf("save the Graph sign-in record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save the Graph sign-in record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save the Graph sign-in record: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("save the Graph sign-in record: %w", err)
	}
	return nil
}

// rememberedDeviceCode is a device code credential that signs in silently
// from the persistent cache when it can, and otherwise prompts once and
// saves the new AuthenticationRecord.
type rememberedDeviceCode struct {
	cred   *azidentity.DeviceCodeCredential // DisableAutomaticAuthentication: prompts only in Authenticate
	saved  savedSignIn                      // what to write after a sign-in (Record filled in then)
	file   string
	notice func(string)

	mu sync.Mutex // one prompt at a time
}

func (r *rememberedDeviceCode) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := r.cred.GetToken(ctx, opts)
	var authReq *azidentity.AuthenticationRequiredError
	if !errors.As(err, &authReq) {
		return tok, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A concurrent request may have signed in while this one waited.
	if tok, err := r.cred.GetToken(ctx, opts); err == nil {
		return tok, nil
	}
	ao := opts
	rec, err := r.cred.Authenticate(ctx, &ao)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	s := r.saved
	s.Record = rec
	if err := saveSignIn(r.file, s); err != nil {
		r.notice(fmt.Sprintf("The Graph sign-in will not be remembered: %v.", err))
	}
	return r.cred.GetToken(ctx, opts)
}

// ForgetSignIn removes the saved AuthenticationRecord in recordFile and
// Roster's persistent token cache, so that the next Graph command asks for
// a new sign-in. Nothing to remove is not an error. It reports whether
// anything was removed.
func ForgetSignIn(recordFile string) (bool, error) {
	files := []string{}
	if recordFile != "" {
		files = append(files, recordFile)
	}
	if dir, err := tokenCacheDir(); err == nil {
		for _, name := range []string{tokenCacheName, tokenCacheName + ".cae"} {
			p := filepath.Join(dir, name)
			files = append(files, p, p+".lockfile")
		}
	}
	removed := false
	var errs []error
	for _, f := range files {
		err := os.Remove(f)
		switch {
		case err == nil:
			removed = true
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// tokenCacheDir is where azidentity/cache keeps its files
// (https://aka.ms/azsdk/go/identity/caching#Persistent-token-caching):
// $XDG_CACHE_HOME or ~/.cache on Linux, the home directory on macOS (whose
// tokens live in the keychain; only lock files are here) and %LOCALAPPDATA%
// on Windows, each followed by .IdentityService.
func tokenCacheDir() (string, error) {
	var d string
	switch runtime.GOOS {
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		d = home
	case "windows":
		d = os.Getenv("LOCALAPPDATA")
	default:
		d = os.Getenv("XDG_CACHE_HOME")
		if d == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			d = filepath.Join(home, ".cache")
		}
	}
	if d == "" {
		return "", errors.New("no cache directory")
	}
	return filepath.Join(d, ".IdentityService"), nil
}
