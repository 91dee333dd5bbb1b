package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/verify"
)

// Workload identity federation: a token of an external OpenID Connect issuer (GitHub Actions,
// GitLab CI, Kubernetes) is exchanged for an access token of the service token a trust policy
// names, when it is for the policy's audience and its claims meet the policy's conditions.

// externalAlgs are the signature algorithms accepted from external issuers: asymmetric only
// (never none, never an HMAC).
var externalAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// issuerKeys is an external issuer's key set, found by OpenID discovery.
type issuerKeys struct {
	keys  *verify.RemoteKeys
	err   error
	until time.Time // when to discover again (an hour after success, 10 s after a failure)
}

// federation caches the key sets of the issuers that trust policies name.
type federation struct {
	client *http.Client
	mu     sync.Mutex
	byIss  map[string]*issuerKeys
}

func newFederation() *federation {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	t := &http.Transport{
		Proxy:                  nil, // a proxy would connect for us, past the address check
		TLSHandshakeTimeout:    5 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := *dialer
			d.Control = issuerDialControl(ctx.Value(loopbackIssuer{}) != nil)
			return d.DialContext(ctx, network, addr)
		},
	}
	return &federation{client: &http.Client{Timeout: 5 * time.Second, Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, byIss: map[string]*issuerKeys{}}
}

// loopbackIssuer marks the context of a fetch for an issuer on a loopback host (tests, a local
// issuer): it may connect to loopback addresses and only to them.
type loopbackIssuer struct{}

// issuerDialControl refuses connections to addresses an issuer on the internet never has —
// loopback, private, link-local, shared (CGNAT), multicast, unspecified — so that a trust
// policy cannot make latchkey fetch from the operator's own network; an issuer on a loopback
// host gets loopback only.
func issuerDialControl(loopback bool) func(network, address string, _ syscall.RawConn) error {
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		ip = ip.Unmap()
		if loopback {
			if !ip.IsLoopback() {
				return fmt.Errorf("issuer address %s: a loopback issuer connects to loopback addresses only", ip)
			}
			return nil
		}
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
			ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
			return fmt.Errorf("issuer address %s is not a public address", ip)
		}
		return nil
	}
}

// keysOf returns issuer's key set, discovering it (OpenID Connect Discovery 1.0) when it is not
// known or its discovery is old. Only issuers a trust policy names get here.
func (f *federation) keysOf(ctx context.Context, issuer string) (*verify.RemoteKeys, error) {
	f.mu.Lock()
	ik := f.byIss[issuer]
	f.mu.Unlock()
	if ik != nil && time.Now().Before(ik.until) {
		return ik.keys, ik.err
	}
	keys, err := f.discover(ctx, issuer)
	ik = &issuerKeys{keys: keys, err: err, until: time.Now().Add(time.Hour)}
	if err != nil {
		ik.until = time.Now().Add(10 * time.Second)
	}
	f.mu.Lock()
	if len(f.byIss) > 1000 {
		clear(f.byIss)
	}
	f.byIss[issuer] = ik
	f.mu.Unlock()
	return keys, err
}

func (f *federation) discover(ctx context.Context, issuer string) (*verify.RemoteKeys, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if u, err := url.Parse(issuer); err == nil && latchkey.LoopbackHost(u.Hostname()) {
		ctx = context.WithValue(ctx, loopbackIssuer{}, true)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery of %s: status %d", issuer, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	if doc.Issuer != issuer {
		return nil, fmt.Errorf("discovery of %s names issuer %q", issuer, doc.Issuer)
	}
	if err := latchkey.ValidateTrustIssuer("jwks_uri", doc.JWKSURI); err != nil {
		return nil, fmt.Errorf("discovery of %s: jwks_uri is not an https URL", issuer)
	}
	if u, err := url.Parse(doc.JWKSURI); err != nil || latchkey.LoopbackHost(u.Hostname()) != (ctx.Value(loopbackIssuer{}) != nil) {
		return nil, fmt.Errorf("discovery of %s: jwks_uri %s is on another kind of host than the issuer", issuer, doc.JWKSURI)
	}
	keys := verify.NewRemoteKeys(doc.JWKSURI, f.client)
	if ctx.Value(loopbackIssuer{}) != nil {
		keys.BaseContext = func() context.Context { return context.WithValue(context.Background(), loopbackIssuer{}, true) }
	}
	return keys, keys.Fetch(ctx)
}

// externalClaims are the claims of an external token that matter here; the rest are read as a
// map for conditions.
type externalClaims struct {
	jwt.Claims
}

// federatedSubject verifies an external token against the trust policies of its issuer and
// returns the principal of the chosen policy's service token (narrowed to the policy's grants)
// and the policy.
func (s *Server) federatedSubject(r *http.Request, raw string, f url.Values) (*latchkey.Principal, *latchkey.TrustPolicy, error) {
	ctx := r.Context()
	bad := func(msg string) error { return oauthErr("invalid_grant", "%s", msg) }
	tok, err := jwt.ParseSigned(raw, externalAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, nil, bad("the subject token is not a JWT signed with an asymmetric algorithm")
	}
	var unverified externalClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer == "" {
		return nil, nil, bad("the subject token has no issuer")
	}
	iss := unverified.Issuer
	policies, err := s.admin.TrustPoliciesOfIssuer(ctx, iss)
	if err != nil {
		return nil, nil, err
	}
	if len(policies) == 0 {
		return nil, nil, bad("no trust policy accepts tokens of this issuer")
	}
	keys, err := s.federation.keysOf(ctx, iss)
	if err != nil {
		s.log.Warn("trust policy issuer cannot be read", "issuer", iss, "error", err.Error())
		return nil, nil, &oauthError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the issuer's keys cannot be read now: try again"}
	}
	key, ok := keys.Key(tok.Headers[0].KeyID)
	if !ok {
		return nil, nil, bad("the subject token is signed with a key its issuer does not publish")
	}
	var claims externalClaims
	var all map[string]any
	if err := tok.Claims(key, &claims, &all); err != nil {
		return nil, nil, bad("the subject token's signature is not valid")
	}
	if claims.Expiry == nil {
		return nil, nil, bad("the subject token has no expiry")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: iss, Time: time.Now()}, accesstoken.Leeway); err != nil {
		switch err {
		case jwt.ErrExpired:
			return nil, nil, bad("the subject token has expired")
		case jwt.ErrNotValidYet, jwt.ErrIssuedInTheFuture:
			return nil, nil, bad("the subject token is not valid yet")
		}
		return nil, nil, bad("the subject token's claims are not valid")
	}
	var chosen []*latchkey.TrustPolicy
	for _, tp := range policies {
		if !claims.Audience.Contains(tp.Audience) {
			continue
		}
		if !slices.ContainsFunc(tp.Conditions, func(c latchkey.ClaimCondition) bool { return !c.Holds(all) }) {
			chosen = append(chosen, tp)
		}
	}
	if want := f.Get("client_id"); want != "" {
		id, err := strconv.ParseInt(want, 10, 64)
		chosen = slices.DeleteFunc(chosen, func(tp *latchkey.TrustPolicy) bool { return err != nil || tp.ID != id })
	}
	switch len(chosen) {
	case 0:
		return nil, nil, bad("no trust policy accepts this token: its audience or claims do not meet any policy's")
	case 1:
	default:
		return nil, nil, bad(fmt.Sprintf("%d trust policies accept this token: send client_id with the id of the one to use", len(chosen)))
	}
	tp := chosen[0]
	live, err := s.admin.LiveFamilyToken(ctx, tp.AccountID, tp.FamilyID)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, nil, bad("the trust policy's service token was deleted")
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := s.verify.VerifyStored(ctx, live.Hash, state(ctx).ip)
	if err != nil {
		if latchkey.SystemError(err) {
			return nil, nil, err
		}
		return nil, nil, bad("the trust policy's service token cannot be used: " + verify.Reason(err))
	}
	if len(tp.Grants) > 0 {
		grants := make([]latchkey.Grant, 0, len(tp.Grants))
		for _, g := range tp.Grants {
			if pg, ok := accesstoken.ParseGrant(g); ok {
				grants = append(grants, pg)
			}
		}
		p = verify.Narrowed(p, grants)
	}
	s.log.Info("trust policy exchange", "trust_policy_id", tp.ID, "account_id", tp.AccountID, "token_id", p.TokenID, "external_subject", claims.Subject)
	return p, tp, nil
}
