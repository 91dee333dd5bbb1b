package latchkey

import (
	"context"
	"strconv"
	"time"
)

// PrincipalKind says who a request acts as.
type PrincipalKind string

// Principal kinds.
const (
	PrincipalUser         PrincipalKind = "user"
	PrincipalServiceToken PrincipalKind = "service_token"
)

// AuthMethod says how a principal authenticated.
type AuthMethod string

// Authentication methods.
const (
	AuthSession      AuthMethod = "session"
	AuthPAT          AuthMethod = "pat"
	AuthServiceToken AuthMethod = "service_token"
	// AuthAccessToken is a short-lived access token (a JWT from the token endpoint), which acts
	// as the token it was obtained with, narrowed.
	AuthAccessToken AuthMethod = "access_token"
)

// Principal is who a request acts as, with its compiled permissions in one account. Principals are
// cached and shared between requests: treat them as immutable.
type Principal struct {
	Kind      PrincipalKind
	Method    AuthMethod
	AccountID int64
	// UserID is set for users (sessions and PATs).
	UserID int64
	// TokenID is the service token or PAT used; 0 for sessions.
	TokenID int64
	// TokenUID is the public uid of the token used.
	TokenUID string
	Name     string
	// License is the user's license in the account; empty for service tokens.
	License     License
	Permissions *Permissions
	// ExpiresAt is the token's expiry, if any.
	ExpiresAt *time.Time
	// IssuedAt is when the token was created (zero for sessions).
	IssuedAt time.Time
	// Grants, for an access token narrowed to grants, are those grants (nil: not narrowed).
	Grants []Grant
	// Legacy marks a principal authenticated with a legacy-format token.
	Legacy bool
	// MustChangePassword marks a user signed in with a temporary password: the web UI offers
	// them only the page that changes it.
	MustChangePassword bool
	// ref and accountRef cache String and AccountRef for principals built once and shared
	// (see Seal).
	ref, accountRef string
	// refs holds the same two strings as one-element header values (see IdentityValues).
	refs [2]string
}

// Seal precomputes what String and AccountRef return, for principals that are cached and served
// many times.
func (p *Principal) Seal() *Principal {
	p.ref, p.accountRef = "", ""
	p.ref, p.accountRef = p.String(), p.AccountRef()
	p.refs = [2]string{p.accountRef, p.ref}
	return p
}

// IdentityValues returns AccountRef and String as one-element slices, ready to be http.Header
// values. For a sealed principal they share its memory (no allocation per request), so callers
// must not modify them; appending is safe (their capacity is one).
func (p *Principal) IdentityValues() (account, principal []string) {
	if p.refs[0] == "" {
		return []string{p.AccountRef()}, []string{p.String()}
	}
	return p.refs[0:1:1], p.refs[1:2:2]
}

// AccountRef returns the account id in decimal.
func (p *Principal) AccountRef() string {
	if p.accountRef != "" {
		return p.accountRef
	}
	return strconv.FormatInt(p.AccountID, 10)
}

// ID returns the id of the user or service token the principal is.
func (p *Principal) ID() int64 {
	if p.Kind == PrincipalUser {
		return p.UserID
	}
	return p.TokenID
}

// String returns "kind:id", e.g. "service_token:42", safe to log.
func (p *Principal) String() string {
	if p == nil {
		return "anonymous"
	}
	if p.ref != "" {
		return p.ref
	}
	return string(p.Kind) + ":" + strconv.FormatInt(p.ID(), 10)
}

// Can decides whether p may have want on r (see Permissions.Decide).
func (p *Principal) Can(r Resource, want Access, project int64, env EnvCategory) Decision {
	if p == nil {
		return Decision{Resource: r, Want: want, ProjectID: project, Env: env}
	}
	return p.Permissions.Decide(r, want, project, env)
}

// Actor identifies who performed a mutation, for the audit log.
type Actor struct {
	Type   string // "user", "service_token" or "system"
	ID     int64
	Name   string
	IP     string
	Source string // "ui", "api", "cli" or "system"
}

// ActorOf returns the audit actor for a principal.
func ActorOf(p *Principal, ip, source string) Actor {
	if p == nil {
		return Actor{Type: "system", Name: "system", IP: ip, Source: source}
	}
	return Actor{Type: string(p.Kind), ID: p.ID(), Name: p.Name, IP: ip, Source: source}
}

// Ref names the actor in one string for records such as a token's revoked_by: "user:3",
// "service_token:4" or "system:reuse detection".
func (a Actor) Ref() string {
	if a.Type == "system" || a.Type == "" {
		return "system:" + a.Name
	}
	return a.Type + ":" + strconv.FormatInt(a.ID, 10)
}

type actorKey struct{}

// WithActor returns a context carrying the actor that store mutations record in the audit log.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor, or the system actor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Type: "system", Name: "system", Source: "system"}
}
