package latchkey

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// TrustPolicy lets workloads of an external OpenID Connect issuer (GitHub Actions, GitLab CI,
// Kubernetes, …) exchange their own short-lived tokens for latchkey access tokens of one
// service token, with no stored secret: a token of Issuer, for Audience, whose claims meet
// every condition, is exchanged for an access token of the service token's family (its live
// token), narrowed to Grants when there are any.
type TrustPolicy struct {
	ID        int64
	AccountID int64
	Name      string
	// Issuer is the iss the token must carry, an https URL (http only on loopback) that serves
	// OpenID discovery and a key set.
	Issuer string
	// Audience is the aud the token must carry.
	Audience string
	// Conditions on the token's claims; all must hold.
	Conditions []ClaimCondition
	// FamilyID is the rotation family of the service token access tokens are issued for.
	FamilyID int64
	// Grants narrow the access tokens ("set" or "set:project_id"); empty: the token's own.
	Grants    []string
	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClaimCondition is a condition on one claim: its string value equals Equals, or matches Like
// (a glob: * within a path segment, ? one character, [a-z] a class; path.Match syntax).
type ClaimCondition struct {
	Claim  string `json:"claim"`
	Equals string `json:"equals,omitempty"`
	Like   string `json:"like,omitempty"`
}

// TrustPolicyUpdate changes a policy (nil fields stay).
type TrustPolicyUpdate struct {
	Name       *string
	Audience   *string
	Conditions *[]ClaimCondition
	Grants     *[]string
}

// TrustPolicyFilter selects active policies.
type TrustPolicyFilter struct {
	AccountID *int64
	Issuer    *string
}

// Limits of trust policies.
const (
	MaxTrustConditions = 20
	maxClaimName       = 100
	maxClaimValue      = 500
)

// ValidateTrustIssuer checks an issuer URL: https, or http to a loopback host (tests, local
// issuers); no query, fragment or user info; at most 255 characters.
func ValidateTrustIssuer(field, issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || len(issuer) > 255 || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return FieldError(field, "issuer must be an https URL such as https://token.actions.githubusercontent.com")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && LoopbackHost(u.Hostname())) {
		return FieldError(field, "issuer must be an https URL (http only for a loopback host)")
	}
	return nil
}

// LoopbackHost reports whether a URL's host name is a loopback one (localhost, 127.0.0.1, ::1):
// the only hosts an issuer may be served from over plain http, and reached on.
func LoopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ParseClaimCondition reads a condition as the CLI and the web UI take it: claim=value (equals)
// or claim~pattern (like). The result is checked by ValidateClaimConditions.
func ParseClaimCondition(s string) (ClaimCondition, bool) {
	i := strings.IndexAny(s, "=~")
	if i <= 0 || i == len(s)-1 {
		return ClaimCondition{}, false
	}
	c := ClaimCondition{Claim: strings.TrimSpace(s[:i])}
	if s[i] == '=' {
		c.Equals = strings.TrimSpace(s[i+1:])
	} else {
		c.Like = strings.TrimSpace(s[i+1:])
	}
	return c, true
}

// ValidateClaimConditions checks conditions: at most MaxTrustConditions, each naming a claim
// (letters, digits, '_', '-', '.', ':') and exactly one of equals and like, a valid glob.
func ValidateClaimConditions(field string, cs []ClaimCondition) error {
	if len(cs) == 0 {
		return FieldError(field, "at least one condition is required (e.g. the repository): an issuer such as GitHub signs tokens for every workload it runs")
	}
	if len(cs) > MaxTrustConditions {
		return FieldError(field, "at most %d conditions are allowed", MaxTrustConditions)
	}
	for i, c := range cs {
		f := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case c.Claim == "" || len(c.Claim) > maxClaimName || strings.Trim(c.Claim, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:") != "":
			return FieldError(f+".claim", "claim must be a claim name of at most %d letters, digits, '_', '-', '.' or ':'", maxClaimName)
		case (c.Equals == "") == (c.Like == ""):
			return FieldError(f, "give exactly one of equals and like")
		case len(c.Equals) > maxClaimValue || len(c.Like) > maxClaimValue:
			return FieldError(f, "a value is at most %d characters", maxClaimValue)
		}
		if c.Like != "" {
			if _, err := path.Match(c.Like, ""); err != nil {
				return FieldError(f+".like", "like is not a valid pattern (* ? and [a-z] classes)")
			}
		}
	}
	return nil
}

// Holds reports whether claims meet c: the claim is a string (or a number or boolean, compared
// in its JSON form) that equals Equals or matches Like.
func (c ClaimCondition) Holds(claims map[string]any) bool {
	var v string
	switch x := claims[c.Claim].(type) {
	case string:
		v = x
	case float64:
		v = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		v = strconv.FormatBool(x)
	default:
		return false
	}
	if c.Equals != "" {
		return v == c.Equals
	}
	ok, err := path.Match(c.Like, v)
	return err == nil && ok
}

// String renders c for people and errors: repository == "acme/etl", ref like "refs/tags/*".
func (c ClaimCondition) String() string {
	if c.Equals != "" {
		return fmt.Sprintf("%s == %q", c.Claim, c.Equals)
	}
	return fmt.Sprintf("%s like %q", c.Claim, c.Like)
}
