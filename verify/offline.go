package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
)

// Offline verification: a resource server that wants no network hop per request checks
// latchkey's access tokens against the published key set (/.well-known/jwks.json), fetched in
// the background. It cannot see revocations: a token whose parent was revoked is accepted until
// it expires (at most 15 minutes). Only the grants a token carries authorise anything offline:
// obtain tokens with a scope.

// RemoteKeys is a key set fetched from a JWKS URL: again every RefreshInterval (Run), and when a
// token names a kid it does not hold, at most once per MinRefetch (so that tokens with made-up
// kids cannot make it fetch on every request).
type RemoteKeys struct {
	url    string
	client *http.Client
	// RefreshInterval (default 1 hour) and MinRefetch (default 10 s); set before use.
	RefreshInterval, MinRefetch time.Duration
	// BaseContext, when set, is the context refetches on an unknown kid start from (values
	// the client's transport reads); default context.Background.
	BaseContext func() context.Context

	mu        sync.RWMutex
	keys      map[string]any
	attempted time.Time // last fetch, successful or not
	fetches   int
}

// NewRemoteKeys returns a key set read from url with client (nil: a client with a 10 s timeout).
func NewRemoteKeys(url string, client *http.Client) *RemoteKeys {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &RemoteKeys{url: url, client: client, RefreshInterval: time.Hour, MinRefetch: 10 * time.Second, keys: map[string]any{}}
}

// maxJWKS bounds a key set document.
const maxJWKS = 1 << 20

// Fetch reads the key set now.
func (r *RemoteKeys) Fetch(ctx context.Context) error {
	r.mu.Lock()
	r.attempted = time.Now()
	r.fetches++
	r.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("key set: %s answered %d", r.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKS)).Decode(&set); err != nil {
		return fmt.Errorf("key set: %w", err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.IsPublic() {
			continue
		}
		switch k.Key.(type) {
		case ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey:
			keys[k.KeyID] = k.Key
		}
	}
	r.mu.Lock()
	r.keys = keys
	r.mu.Unlock()
	return nil
}

// Key returns kid's public key (accesstoken.KeyFunc), fetching the set again first when kid is
// unknown and the last fetch is older than MinRefetch.
func (r *RemoteKeys) Key(kid string) (any, bool) {
	r.mu.RLock()
	k, ok := r.keys[kid]
	due := time.Since(r.attempted) >= r.MinRefetch
	r.mu.RUnlock()
	if ok || !due {
		return k, ok
	}
	base := context.Background()
	if r.BaseContext != nil {
		base = r.BaseContext()
	}
	ctx, cancel := context.WithTimeout(base, 5*time.Second)
	defer cancel()
	if r.Fetch(ctx) != nil {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok = r.keys[kid]
	return k, ok
}

// Fetches counts the fetches made (for tests and metrics).
func (r *RemoteKeys) Fetches() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.fetches
}

// Run fetches the key set every RefreshInterval until ctx ends.
func (r *RemoteKeys) Run(ctx context.Context) {
	t := time.NewTicker(r.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Fetch(ctx)
		}
	}
}

// Offline verifies access tokens against a RemoteKeys.
type Offline struct {
	Issuer, Audience string
	Keys             *RemoteKeys
	// Now, when set, replaces the clock (tests).
	Now func() time.Time
}

// NewOffline returns an offline verifier of the access tokens issuer (latchkey's --public-url)
// signs, with its key set at issuer/.well-known/jwks.json, fetched once now; run
// o.Keys.Run(ctx) to keep it fresh.
func NewOffline(ctx context.Context, issuer string) (*Offline, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	o := &Offline{Issuer: issuer, Audience: issuer, Keys: NewRemoteKeys(issuer+"/.well-known/jwks.json", nil)}
	return o, o.Keys.Fetch(ctx)
}

// Verify checks token's signature, issuer, audience and times and returns its principal: the
// account, the token it was obtained with (TokenID, TokenUID), its expiry, and the permissions
// of the grants it carries (none for a token obtained without a scope). Revocation is not seen.
func (o *Offline) Verify(token string) (*latchkey.Principal, *accesstoken.Claims, error) {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	c, err := accesstoken.Parse(token, o.Keys.Key, o.Issuer, o.Audience, now)
	if err != nil {
		if errors.Is(err, accesstoken.ErrExpired) {
			return nil, nil, ErrExpired
		}
		return nil, nil, err
	}
	var grants []latchkey.Grant
	for _, s := range c.Grants {
		g, ok := accesstoken.ParseGrant(s)
		if !ok {
			return nil, nil, accesstoken.ErrMalformed
		}
		grants = append(grants, g)
	}
	exp := c.Expiry.Time()
	p := &latchkey.Principal{Method: AuthAccessToken, AccountID: c.AccountID, TokenID: c.TokenID, TokenUID: c.ClientID,
		ExpiresAt: &exp, Permissions: catalog.Compile("", grants)}
	kind, id, _ := strings.Cut(c.Subject, ":")
	switch kind {
	case string(latchkey.PrincipalUser):
		p.Kind = latchkey.PrincipalUser
		p.UserID, _ = strconv.ParseInt(id, 10, 64)
	default:
		p.Kind = latchkey.PrincipalServiceToken
	}
	return p.Seal(), c, nil
}
