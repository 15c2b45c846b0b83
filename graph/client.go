package graph

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	coreauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationtemplates"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/rosterhq/roster/graph/graphapi"
)

// Cloud is a Microsoft cloud: its Graph endpoint and sign-in authority.
type Cloud string

// The national clouds (docs/graph.md#national-clouds). GCC (moderate) uses Global.
const (
	CloudGlobal   Cloud = "global"
	CloudUSGov    Cloud = "usgov"     // GCC High (L4)
	CloudUSGovDoD Cloud = "usgov-dod" // DoD (L5)
	CloudChina    Cloud = "china"     // operated by 21Vianet
)

// Clouds lists the accepted Cloud values.
var Clouds = []Cloud{CloudGlobal, CloudUSGov, CloudUSGovDoD, CloudChina}

func (c Cloud) graphRoot() (string, error) {
	switch c {
	case CloudGlobal, "":
		return "https://graph.microsoft.com", nil
	case CloudUSGov:
		return "https://graph.microsoft.us", nil
	case CloudUSGovDoD:
		return "https://dod-graph.microsoft.us", nil
	case CloudChina:
		return "https://microsoftgraph.chinacloudapi.cn", nil
	}
	return "", fmt.Errorf("unknown cloud %q: use global, usgov, usgov-dod or china", string(c))
}

func (c Cloud) authority() cloud.Configuration {
	switch c {
	case CloudUSGov, CloudUSGovDoD:
		return cloud.AzureGovernment
	case CloudChina:
		return cloud.AzureChina
	}
	return cloud.AzurePublic
}

// Auth is how Roster signs in to Microsoft Graph.
type Auth string

// The supported credentials (docs/graph.md#sign-in).
const (
	AuthDeviceCode        Auth = "device-code"        // a person signs in on another device
	AuthAzureCLI          Auth = "azure-cli"          // reuse `az login`
	AuthClientSecret      Auth = "client-secret"      // an app registration's secret
	AuthClientCertificate Auth = "client-certificate" // an app registration's certificate
	AuthManagedIdentity   Auth = "managed-identity"   // on Azure compute
	AuthToken             Auth = "token"              // a pre-acquired access token (ROSTER_GRAPH_TOKEN)
)

// Auths lists the accepted Auth values.
var Auths = []Auth{AuthDeviceCode, AuthAzureCLI, AuthClientSecret, AuthClientCertificate, AuthManagedIdentity, AuthToken}

// DeviceCode is the sign-in prompt of the device code flow: the person
// opens VerificationURL and enters UserCode.
type DeviceCode struct {
	UserCode        string
	VerificationURL string
	Message         string
}

// Config says how to reach and sign in to Microsoft Graph.
type Config struct {
	Auth Auth
	// TenantID is the Entra tenant (id or domain); for device code it
	// defaults to "organizations".
	TenantID string
	// ClientID is the app registration to sign in with. Device code defaults
	// to the Azure CLI's public client; bring your own when your tenant does
	// not grant it the provisioning permissions.
	ClientID string
	// ClientSecret is for AuthClientSecret.
	ClientSecret string `json:"-"`
	// CertificateFile (PEM or PKCS#12) and CertificatePassword are for
	// AuthClientCertificate.
	CertificateFile     string
	CertificatePassword string `json:"-"`
	// Token is a pre-acquired access token for AuthToken.
	Token string `json:"-"`
	// Cloud selects the national cloud; default global.
	Cloud Cloud
	// BaseURL overrides the Graph endpoint, including /v1.0 (for proxies and
	// tests; ROSTER_GRAPH_URL).
	BaseURL string
	// LoginURL overrides the sign-in authority host, e.g.
	// https://login.example.net/ (private clouds, proxies and tests;
	// ROSTER_LOGIN_URL). Instance discovery is then skipped.
	LoginURL string
	// DeviceCodePrompt shows the device code prompt; it must not block. The
	// default prints the message to stderr.
	DeviceCodePrompt func(ctx context.Context, dc DeviceCode) error
	// SignInRecord, when set, remembers a device code sign-in between
	// processes: the AuthenticationRecord is saved in this file (it holds no
	// secret) and the tokens in azidentity's encrypted persistent cache, so
	// the next Client signs in silently (see signin.go). Where the system
	// has no secret storage nothing is remembered, and Notice says so once.
	SignInRecord string
	// Notice receives messages for the person at the terminal; default
	// stderr.
	Notice func(msg string)
	// Transport is the HTTP transport under the SDK's middleware (retry on
	// 429/503/504 honouring Retry-After, gzip, redirects); default a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Logger receives one debug line per Graph request.
	Logger *slog.Logger
	// PollInterval is the first wait between polls for a new service
	// principal (default 1 s, doubling to 8 s).
	PollInterval time.Duration
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.Cloud.graphRoot(); err != nil {
		errs = append(errs, err)
	}
	switch c.Auth {
	case AuthDeviceCode, AuthAzureCLI, AuthManagedIdentity:
	case AuthClientSecret:
		if c.TenantID == "" || c.ClientID == "" || c.ClientSecret == "" {
			errs = append(errs, errors.New("client-secret sign-in needs a tenant id, a client id and a client secret"))
		}
	case AuthClientCertificate:
		if c.TenantID == "" || c.ClientID == "" || c.CertificateFile == "" {
			errs = append(errs, errors.New("client-certificate sign-in needs a tenant id, a client id and a certificate file"))
		}
	case AuthToken:
		if c.Token == "" {
			errs = append(errs, errors.New("token sign-in needs an access token (ROSTER_GRAPH_TOKEN)"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown sign-in method %q: use one of %s", string(c.Auth), joinAuths()))
	}
	if c.LoginURL != "" {
		if u, err := url.Parse(c.LoginURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("login URL %q must be an https:// URL", c.LoginURL))
		}
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil || u.Host == "":
			errs = append(errs, fmt.Errorf("the Graph URL %q is not a URL", c.BaseURL))
		case u.Scheme != "https" && !graphapi.IsLoopback(u.Hostname()):
			errs = append(errs, fmt.Errorf("the Graph URL %q must use https", c.BaseURL))
		}
	}
	return errors.Join(errs...)
}

func joinAuths() string {
	var s []string
	for _, a := range Auths {
		s = append(s, string(a))
	}
	return strings.Join(s, ", ")
}

// Client talks to Microsoft Graph. Its methods are safe for concurrent use.
type Client struct {
	cfg     Config
	cred    azcore.TokenCredential
	scopes  []string
	adapter *msgraphcore.GraphRequestAdapterBase
	sps     *serviceprincipals.ServicePrincipalsRequestBuilder
	tpls    *applicationtemplates.ApplicationTemplatesRequestBuilder
	log     *slog.Logger
}

// New returns a Client; it does not sign in until the first request or
// SignIn.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, _ := cfg.Cloud.graphRoot()
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = root + "/v1.0"
	}
	bu, _ := url.Parse(base)
	cred, err := credential(cfg)
	if err != nil {
		return nil, err
	}
	scopes := []string{root + "/.default"}
	// The token is sent only to these hosts; any other gets no token at all,
	// silently (docs/graph.md#token-valid-hosts), so the base URL's host is added.
	hosts := []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn", bu.Hostname()}
	auth, err := coreauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, scopes, hosts)
	if err != nil {
		return nil, fmt.Errorf("set up Graph sign-in: %w", err)
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		tr = t
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	hc := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(&logTransport{next: tr, log: log},
			msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout: 2 * time.Minute,
	}
	// Explicit JSON factories and no GraphServiceClient: no backing-store
	// proxy, so request bodies carry every value set (§0.4).
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, opts, jsonser.NewJsonParseNodeFactory(), jsonser.NewJsonSerializationWriterFactory(), hc)
	if err != nil {
		return nil, fmt.Errorf("set up Graph client: %w", err)
	}
	adapter.SetBaseUrl(base)
	return &Client{
		cfg: cfg, cred: cred, scopes: scopes, adapter: adapter, log: log,
		// The …Internal constructors: a raw-URL root would be inherited by
		// every child builder (docs/graph.md#no-backing-store).
		sps:  serviceprincipals.NewServicePrincipalsRequestBuilderInternal(map[string]string{}, adapter),
		tpls: applicationtemplates.NewApplicationTemplatesRequestBuilderInternal(map[string]string{}, adapter),
	}, nil
}

// credential builds the azidentity credential for cfg.Auth.
func credential(cfg Config) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Cloud: cfg.Cloud.authority()}
	custom := cfg.LoginURL != ""
	if custom {
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(cfg.LoginURL, "/") + "/", Services: co.Cloud.Services}
	}
	if cfg.Transport != nil {
		// Sign-in goes through the same transport as Graph (proxies, CAs).
		co.Transport = &http.Client{Transport: cfg.Transport, Timeout: time.Minute}
	}
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch cfg.Auth {
	case AuthToken:
		return staticToken(cfg.Token), nil
	case AuthDeviceCode:
		prompt := cfg.DeviceCodePrompt
		if prompt == nil {
			prompt = func(_ context.Context, dc DeviceCode) error {
				fmt.Fprintln(os.Stderr, dc.Message)
				return nil
			}
		}
		tenant := cfg.TenantID
		if tenant == "" {
			tenant = "organizations"
		}
		dco := &azidentity.DeviceCodeCredentialOptions{
			ClientOptions: co, TenantID: tenant, ClientID: cfg.ClientID, DisableInstanceDiscovery: custom,
			UserPrompt: func(ctx context.Context, m azidentity.DeviceCodeMessage) error {
				return prompt(ctx, DeviceCode{UserCode: m.UserCode, VerificationURL: m.VerificationURL, Message: m.Message})
			},
		}
		if cfg.SignInRecord == "" {
			cred, err = azidentity.NewDeviceCodeCredential(dco)
			break
		}
		notice := cfg.Notice
		if notice == nil {
			notice = func(msg string) { fmt.Fprintln(os.Stderr, msg) }
		}
		c, cerr := persistentCache()
		if cerr != nil {
			notice(noCacheNotice(cerr))
			cred, err = azidentity.NewDeviceCodeCredential(dco)
			break
		}
		saved := savedSignIn{Tenant: tenant, ClientID: cfg.ClientID, Authority: co.Cloud.ActiveDirectoryAuthorityHost}
		dco.Cache = c
		dco.AuthenticationRecord = loadSignIn(cfg.SignInRecord, saved.Tenant, saved.ClientID, saved.Authority)
		dco.DisableAutomaticAuthentication = true
		dc, derr := azidentity.NewDeviceCodeCredential(dco)
		if derr != nil {
			return nil, fmt.Errorf("set up %s sign-in: %w", cfg.Auth, derr)
		}
		return &rememberedDeviceCode{cred: dc, saved: saved, file: cfg.SignInRecord, notice: notice}, nil
	case AuthAzureCLI:
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: cfg.TenantID})
	case AuthClientSecret:
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
	case AuthClientCertificate:
		data, rerr := os.ReadFile(cfg.CertificateFile)
		if rerr != nil {
			return nil, fmt.Errorf("read client certificate: %w", rerr)
		}
		var pw []byte
		if cfg.CertificatePassword != "" {
			pw = []byte(cfg.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(data, pw)
		if perr != nil {
			return nil, fmt.Errorf("read client certificate %s: %w", cfg.CertificateFile, perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
	case AuthManagedIdentity:
		var id azidentity.ManagedIDKind
		if cfg.ClientID != "" {
			id = azidentity.ClientID(cfg.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: co, ID: id})
	}
	if err != nil {
		return nil, fmt.Errorf("set up %s sign-in: %w", cfg.Auth, err)
	}
	return cred, nil
}

// staticToken is a pre-acquired access token.
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// tokenOptions asks for the token Graph requests will use: the SDK's
// authentication provider requests CAE tokens, which azidentity caches apart
// from the others, so a sign-in without EnableCAE would make the first Graph
// call prompt for the device code a second time.
func (c *Client) tokenOptions() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: c.scopes, EnableCAE: true}
}

// SignIn acquires a token now, so that a device code prompt appears at a
// moment of the caller's choosing rather than inside the first request.
func (c *Client) SignIn(ctx context.Context) error {
	if _, err := c.cred.GetToken(ctx, c.tokenOptions()); err != nil {
		return &Error{Op: "sign in to Microsoft Graph", Err: err,
			Hint: "check the tenant, the client id and the credential; for device code, finish the sign-in in the browser before the code expires"}
	}
	return nil
}

// logTransport logs each Graph request at debug level.
type logTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t *logTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.log.Debug("graph request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return nil, err
	}
	t.log.Debug("graph request", "method", r.Method, "path", r.URL.Path, "status", resp.StatusCode,
		"request_id", resp.Header.Get("request-id"), "duration", time.Since(start))
	return resp, nil
}

// errorMapping maps every error status to an ODataError (the mapping the
// generated code uses).
var errorMapping = abs.ErrorMappings{"XXX": odataErrorFactory}

// Account signs in if needed and says who the token belongs to. A token
// that is not a JWT (an opaque or test token) gives an empty Account.
func (c *Client) Account(ctx context.Context) (Account, error) {
	tok, err := c.cred.GetToken(ctx, c.tokenOptions())
	if err != nil {
		return Account{}, &Error{Op: "sign in to Microsoft Graph", Err: err,
			Hint: "check the tenant, the client id and the credential; for device code, finish the sign-in in the browser before the code expires"}
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return Account{}, nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Account{}, nil
	}
	var claims struct {
		UPN        string `json:"upn"`
		UniqueName string `json:"unique_name"`
		AppName    string `json:"app_displayname"`
		TID        string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return Account{}, nil
	}
	a := Account{Name: claims.UPN, TenantID: claims.TID}
	if a.Name == "" {
		a.Name = claims.UniqueName
	}
	if a.Name == "" {
		a.Name = claims.AppName
	}
	return a, nil
}
