// Package sso is latchkey's OpenID Connect relying party: it builds the authorization request
// (authorization code flow with PKCE S256, a random state and nonce per attempt) and finishes
// it — exchanging the code, verifying the ID token (signature, issuer, audience, expiry, nonce)
// with go-oidc and reading the claims latchkey uses. It decides nothing about users or
// accounts; admin.SSOSignIn does.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey"
)

// DefaultTimeout bounds each exchange with the identity provider (discovery, token, keys,
// userinfo together), so an unreachable IdP is reported quickly instead of hanging a sign-in.
const DefaultTimeout = 5 * time.Second

// Provider is what the relying party needs to know about one identity provider.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is latchkey's callback, as registered with the IdP.
	RedirectURL string
	GroupsClaim string
}

// Attempt is one sign-in attempt's secrets, kept by the browser's attempt cookie and checked
// on the way back.
type Attempt struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

// NewAttempt returns an attempt with a fresh state, nonce and PKCE verifier.
func NewAttempt() Attempt {
	return Attempt{State: random(24), Nonce: random(24), Verifier: oauth2.GenerateVerifier()}
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Failure is a sign-in that did not succeed: Reason is a short code for the audit log and
// metrics, Message what the person signing in reads (never a code, token or stack trace).
type Failure struct {
	Reason  string
	Message string
	// Unavailable marks an IdP that could not be reached or did not answer.
	Unavailable bool
	cause       error
}

func (f *Failure) Error() string {
	if f.cause != nil {
		return "sso " + f.Reason + ": " + f.cause.Error()
	}
	return "sso " + f.Reason
}

// Unwrap returns the underlying error, for logs.
func (f *Failure) Unwrap() error { return f.cause }

// Failure messages people read on the sign-in page.
const (
	MessageUnavailable  = "The identity provider is unavailable right now, so single sign-on cannot continue. Try again in a few minutes."
	MessageCodeRejected = "The identity provider refused this sign-in (its code was already used or has expired). Start the sign-in again."
	MessageTokenInvalid = "The identity provider's answer could not be verified, so you were not signed in. Start the sign-in again; if it keeps failing, tell an account admin."
	MessageNonce        = "The identity provider's answer did not belong to the sign-in you started (wrong nonce), so you were not signed in. Start the sign-in again."
)

func unavailable(err error) *Failure {
	return &Failure{Reason: "idp_unavailable", Message: MessageUnavailable, Unavailable: true, cause: err}
}

// Client talks to identity providers with a bounded HTTP client.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// New returns a client whose every exchange with an IdP ends within timeout
// (DefaultTimeout when 0). It never connects to a link-local, multicast or unspecified address
// (see refuseAddress), whatever a name resolves to or a discovery document points at.
func New(timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, Control: refuseAddress}).DialContext
	return &Client{http: &http.Client{Timeout: timeout, Transport: t}, timeout: timeout}
}

// refuseAddress refuses connections to link-local addresses (169.254.0.0/16, where clouds serve
// instance metadata and credentials, and fe80::/10), multicast and unspecified ones. An account
// admin chooses the issuer, and the IdP's discovery document names the other URLs: neither may
// make latchkey fetch its host's metadata. It checks the address actually dialled, after DNS,
// so a name that resolves there is refused too. Private and loopback addresses stay allowed:
// self-hosted identity providers often live there.
func refuseAddress(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("identity provider address %q: %w", host, err)
	}
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return fmt.Errorf("refusing to connect to %s: link-local, multicast and unspecified addresses are never identity providers", ip)
	}
	return nil
}

func (c *Client) context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	ctx = oidc.ClientContext(ctx, c.http)
	return context.WithValue(ctx, oauth2.HTTPClient, c.http), cancel
}

func (c *Client) discover(ctx context.Context, p Provider) (*oidc.Provider, *oauth2.Config, error) {
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("discover %s: %w", p.Issuer, err))
	}
	conf := &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.RedirectURL,
		Endpoint: op.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	return op, conf, nil
}

// AuthURL discovers the IdP and returns where to send the browser for attempt a.
func (c *Client) AuthURL(ctx context.Context, p Provider, a Attempt) (string, error) {
	ctx, cancel := c.context(ctx)
	defer cancel()
	_, conf, err := c.discover(ctx, p)
	if err != nil {
		return "", err
	}
	return conf.AuthCodeURL(a.State, oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)), nil
}

// Finish exchanges code (with a's PKCE verifier), verifies the ID token and its nonce, and
// returns who signed in. Claims missing from the ID token are read from the userinfo endpoint
// (for the same subject). The caller has already checked the state.
func (c *Client) Finish(ctx context.Context, p Provider, a Attempt, code string) (latchkey.SSOIdentity, error) {
	var id latchkey.SSOIdentity
	ctx, cancel := c.context(ctx)
	defer cancel()
	op, conf, err := c.discover(ctx, p)
	if err != nil {
		return id, err
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return id, &Failure{Reason: "code_rejected", Message: MessageCodeRejected, cause: err}
		}
		return id, unavailable(fmt.Errorf("exchange code: %w", err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return id, &Failure{Reason: "id_token_missing", Message: MessageTokenInvalid}
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID}).Verify(ctx, raw)
	if err != nil {
		if ctx.Err() != nil {
			return id, unavailable(err)
		}
		return id, &Failure{Reason: "id_token_invalid", Message: MessageTokenInvalid, cause: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return id, &Failure{Reason: "nonce_mismatch", Message: MessageNonce}
	}
	claims := map[string]json.RawMessage{}
	if err := idt.Claims(&claims); err != nil {
		return id, &Failure{Reason: "id_token_invalid", Message: MessageTokenInvalid, cause: err}
	}
	if op.UserInfoEndpoint() != "" {
		ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return id, unavailable(fmt.Errorf("userinfo: %w", err))
		}
		if ui.Subject != idt.Subject {
			return id, &Failure{Reason: "userinfo_subject_mismatch", Message: MessageTokenInvalid}
		}
		extra := map[string]json.RawMessage{}
		if err := ui.Claims(&extra); err == nil {
			for k, v := range extra {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	groupsClaim := p.GroupsClaim
	if groupsClaim == "" {
		groupsClaim = latchkey.DefaultGroupsClaim
	}
	id = latchkey.SSOIdentity{Subject: idt.Subject, Email: str(claims["email"]), EmailVerified: boolean(claims["email_verified"]),
		FirstName: str(claims["given_name"]), LastName: str(claims["family_name"]), Groups: strs(claims[groupsClaim])}
	return id, nil
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// boolean reads true or "true" (some IdPs send the string).
func boolean(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	return strings.EqualFold(str(raw), "true")
}

// strs reads a list of strings, or one string, as a list.
func strs(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	if s := str(raw); s != "" {
		return []string{s}
	}
	return nil
}
