package admin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// Single sign-on. The provider and license maps are security configuration: they decide who
// can sign in and with which license and groups. Reading them takes the token security policy's
// right (account_admin or security_admin, see canChangeSecurityPolicy). Changing them takes
// account_admin on all projects (canChangeSSO): whoever controls the identity provider can sign
// in as any member whose email it asserts, the owners included, so a security admin who could
// point the account at an IdP of their own would hold everything an owner holds. Signing in
// with SSO is done by the system on the strength of a verified ID token, as the provider's
// configuration says; it is not a principal acting.

// MaxLicenseMapGroups bounds a license map's IdP groups.
const MaxLicenseMapGroups = 100

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

var claimPattern = regexp.MustCompile(`^[A-Za-z0-9_:./-]{1,100}$`)

// canChangeSSO checks that p may change its account's SSO configuration: p holds account_admin
// on all projects, as the provider can sign in as anyone in the account.
func canChangeSSO(p *latchkey.Principal) error {
	if err := canManageSSO(p); err != nil {
		return err
	}
	if catalog.CheckEscalation(p.Permissions, latchkey.Grant{PermissionSet: "account_admin", AllProjects: true}) != nil {
		return latchkey.Errorf(latchkey.EForbidden,
			"Changing single sign-on (the auth provider and license maps) needs the account_admin permission set on all projects: the identity provider can sign in as anyone in the account, its owners included.")
	}
	return nil
}

// canManageSSO checks that p may read its account's SSO configuration.
func canManageSSO(p *latchkey.Principal) error {
	if p == nil {
		return latchkey.Errorf(latchkey.EUnauthorized, "authentication required")
	}
	if canChangeSecurityPolicy(p) != nil {
		return latchkey.Errorf(latchkey.EForbidden,
			"Single sign-on settings (the auth provider and license maps) need the account_admin or security_admin permission set.")
	}
	return nil
}

// SSOProviderInput creates or changes a provider; nil fields keep their value (or take the
// default on create). ClientSecret is write-only: "" removes it (a public client).
type SSOProviderInput struct {
	Type                  *string
	Slug                  *string
	AllowPasswordBackdoor *bool
	Issuer                *string
	ClientID              *string
	ClientSecret          *string
	GroupsClaim           *string
}

// checkIssuer accepts an https URL, or http on a loopback host (development and tests).
func checkIssuer(v string) (string, error) {
	v = strings.TrimSpace(v)
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(v) > 1000 {
		return "", latchkey.FieldError("issuer", "The issuer must be the identity provider's issuer URL, such as https://idp.example.com.")
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()) {
		return "", latchkey.FieldError("issuer", "The issuer cannot be a link-local, multicast or unspecified address such as 169.254.169.254: latchkey never connects to those.")
	}
	if u.Scheme != "https" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if u.Scheme != "http" || !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			return "", latchkey.FieldError("issuer", "The issuer must use https (http is accepted only for localhost).")
		}
	}
	return v, nil
}

// applySSOInput validates in onto sp.
func (s *Service) applySSOInput(sp *latchkey.SSOProvider, in SSOProviderInput) error {
	if in.Type != nil && *in.Type != latchkey.SSOProviderOIDC {
		return latchkey.FieldError("type", "The type must be %q: latchkey signs in with OpenID Connect.", latchkey.SSOProviderOIDC)
	}
	if in.Slug != nil {
		slug := strings.TrimSpace(*in.Slug)
		if !slugPattern.MatchString(slug) {
			return latchkey.FieldError("slug", "The SSO name (slug) must be 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash.")
		}
		sp.Slug = slug
	}
	if in.AllowPasswordBackdoor != nil {
		sp.AllowPasswordBackdoor = *in.AllowPasswordBackdoor
	}
	if in.Issuer != nil {
		iss, err := checkIssuer(*in.Issuer)
		if err != nil {
			return err
		}
		// The stored secret was made for the old issuer: never send it to another one.
		if sp.Issuer != "" && iss != sp.Issuer && len(sp.ClientSecretSealed) > 0 && in.ClientSecret == nil {
			return latchkey.FieldError("client_secret", "The issuer changed: enter the client secret the new identity provider gave latchkey (or remove the stored one), so the old secret is never sent to another provider.")
		}
		sp.Issuer = iss
	}
	if in.ClientID != nil {
		id := strings.TrimSpace(*in.ClientID)
		if id == "" || len(id) > 255 {
			return latchkey.FieldError("client_id", "The client ID must be the one the identity provider gave latchkey (1 to 255 characters).")
		}
		sp.ClientID = id
	}
	if in.GroupsClaim != nil {
		c := strings.TrimSpace(*in.GroupsClaim)
		if c == "" {
			c = latchkey.DefaultGroupsClaim
		}
		if !claimPattern.MatchString(c) {
			return latchkey.FieldError("groups_claim", "The groups claim must be a claim name (letters, digits and _ : . / -).")
		}
		sp.GroupsClaim = c
	}
	if in.ClientSecret != nil {
		if len(*in.ClientSecret) > 1000 {
			return latchkey.FieldError("client_secret", "The client secret is longer than 1000 characters.")
		}
		sealed, err := s.seal(*in.ClientSecret)
		if err != nil {
			return err
		}
		sp.ClientSecretSealed = sealed
	}
	return nil
}

// SSOProviders returns p's account's active provider, if any, as a list (dbt's list shape).
func (s *Service) SSOProviders(ctx context.Context, p *latchkey.Principal) ([]*latchkey.SSOProvider, error) {
	if err := canManageSSO(p); err != nil {
		return nil, err
	}
	active := latchkey.StateActive
	return s.store.FindSSOProviders(ctx, latchkey.SSOProviderFilter{AccountID: &p.AccountID, State: &active})
}

// SSOProvider returns one provider of p's account, in any state.
func (s *Service) SSOProvider(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.SSOProvider, error) {
	if err := canManageSSO(p); err != nil {
		return nil, err
	}
	sp, err := s.store.FindSSOProviderByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || sp.AccountID != p.AccountID {
		return nil, notFound("auth provider %d not found", id)
	}
	return sp, nil
}

// CreateSSOProvider configures single sign-on for p's account. Issuer and client_id are
// required; the slug defaults to one made of the account's name.
func (s *Service) CreateSSOProvider(ctx context.Context, p *latchkey.Principal, in SSOProviderInput) (*latchkey.SSOProvider, error) {
	if err := canChangeSSO(p); err != nil {
		return nil, err
	}
	sp := &latchkey.SSOProvider{AccountID: p.AccountID, Type: latchkey.SSOProviderOIDC, AllowPasswordBackdoor: true,
		GroupsClaim: latchkey.DefaultGroupsClaim}
	if err := s.applySSOInput(sp, in); err != nil {
		return nil, err
	}
	if sp.Issuer == "" {
		return nil, latchkey.FieldError("issuer", "The issuer is required.")
	}
	if sp.ClientID == "" {
		return nil, latchkey.FieldError("client_id", "The client ID is required.")
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if sp.Slug == "" {
			a, err := s.account(ctx, p)
			if err != nil {
				return err
			}
			sp.Slug = slugOf(a)
		}
		return s.store.CreateSSOProvider(ctx, sp)
	})
	if err != nil {
		return nil, err
	}
	return sp, nil
}

// slugOf makes a default slug of an account's name ("Acme Corp" → "acme-corp").
func slugOf(a *latchkey.Account) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(a.Name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.Trim(b.String(), "-")
	if len(slug) > 50 {
		slug = strings.Trim(slug[:50], "-")
	}
	if slug == "" {
		return fmt.Sprintf("account-%d", a.ID)
	}
	return slug
}

// UpdateSSOProvider changes p's account's provider.
func (s *Service) UpdateSSOProvider(ctx context.Context, p *latchkey.Principal, id int64, in SSOProviderInput) (*latchkey.SSOProvider, error) {
	if err := canChangeSSO(p); err != nil {
		return nil, err
	}
	var out *latchkey.SSOProvider
	err := s.inTx(ctx, func(ctx context.Context) error {
		sp, err := s.SSOProvider(ctx, p, id)
		if err != nil {
			return err
		}
		if sp.State != latchkey.StateActive {
			return notFound("auth provider %d not found", id)
		}
		next := *sp
		if err := s.applySSOInput(&next, in); err != nil {
			return err
		}
		upd := latchkey.SSOProviderUpdate{Slug: &next.Slug, AllowPasswordBackdoor: &next.AllowPasswordBackdoor, Issuer: &next.Issuer,
			ClientID: &next.ClientID, GroupsClaim: &next.GroupsClaim}
		if in.ClientSecret != nil {
			upd.ClientSecretSealed = &next.ClientSecretSealed
		}
		out, err = s.store.UpdateSSOProvider(ctx, id, upd)
		return err
	})
	return out, err
}

// DeleteSSOProvider turns single sign-on off for p's account: password sign-in is no longer
// restricted by it.
func (s *Service) DeleteSSOProvider(ctx context.Context, p *latchkey.Principal, id int64) error {
	if err := canChangeSSO(p); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.SSOProvider(ctx, p, id); err != nil {
			return err
		}
		return s.store.DeleteSSOProvider(ctx, id)
	})
}

// cleanLicenseMapGroups checks sso_license_mapping_groups like a group's sso_mapping_groups.
func cleanLicenseMapGroups(in []string) ([]string, error) {
	if len(in) > MaxLicenseMapGroups {
		return nil, latchkey.FieldError("sso_license_mapping_groups", "A license map names at most %d identity provider groups, not %d.", MaxLicenseMapGroups, len(in))
	}
	out := []string{}
	for _, n := range in {
		name, err := latchkey.CleanName("sso_license_mapping_groups", n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// LicenseMaps lists p's account's license maps in state (any when nil).
func (s *Service) LicenseMaps(ctx context.Context, p *latchkey.Principal, state *latchkey.State) ([]*latchkey.LicenseMap, error) {
	if err := canManageSSO(p); err != nil {
		return nil, err
	}
	return s.store.FindLicenseMaps(ctx, p.AccountID, state)
}

// LicenseMap returns one license map of p's account, in any state.
func (s *Service) LicenseMap(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.LicenseMap, error) {
	if err := canManageSSO(p); err != nil {
		return nil, err
	}
	m, err := s.store.FindLicenseMapByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || m.AccountID != p.AccountID {
		return nil, notFound("license map %d not found", id)
	}
	return m, nil
}

// CreateLicenseMap maps IdP groups to a license in p's account.
func (s *Service) CreateLicenseMap(ctx context.Context, p *latchkey.Principal, license latchkey.License, groups []string) (*latchkey.LicenseMap, error) {
	if err := canChangeSSO(p); err != nil {
		return nil, err
	}
	if err := checkLicense(license); err != nil {
		return nil, err
	}
	groups, err := cleanLicenseMapGroups(groups)
	if err != nil {
		return nil, err
	}
	m := &latchkey.LicenseMap{AccountID: p.AccountID, License: license, SSOGroups: groups}
	if err := s.inTx(ctx, func(ctx context.Context) error { return s.store.CreateLicenseMap(ctx, m) }); err != nil {
		return nil, err
	}
	return m, nil
}

// UpdateLicenseMap changes a license map of p's account; nil fields keep their value.
func (s *Service) UpdateLicenseMap(ctx context.Context, p *latchkey.Principal, id int64, license *latchkey.License, groups *[]string) (*latchkey.LicenseMap, error) {
	if err := canChangeSSO(p); err != nil {
		return nil, err
	}
	upd := latchkey.LicenseMapUpdate{License: license}
	if license != nil {
		if err := checkLicense(*license); err != nil {
			return nil, err
		}
	}
	if groups != nil {
		g, err := cleanLicenseMapGroups(*groups)
		if err != nil {
			return nil, err
		}
		upd.SSOGroups = &g
	}
	var out *latchkey.LicenseMap
	err := s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.LicenseMap(ctx, p, id); err != nil {
			return err
		}
		var err error
		out, err = s.store.UpdateLicenseMap(ctx, id, upd)
		return err
	})
	return out, err
}

// DeleteLicenseMap removes a license map of p's account.
func (s *Service) DeleteLicenseMap(ctx context.Context, p *latchkey.Principal, id int64) error {
	if err := canChangeSSO(p); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.LicenseMap(ctx, p, id); err != nil {
			return err
		}
		return s.store.DeleteLicenseMap(ctx, id)
	})
}

// seal encrypts an SSO client secret with the deployment's secret key (AES-256-GCM, a random
// nonce in front). "" seals to nothing: a public client.
func (s *Service) seal(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(secret), []byte("latchkey sso client secret")), nil
}

// SSOClientSecret opens a provider's sealed client secret ("" for a public client).
func (s *Service) SSOClientSecret(sp *latchkey.SSOProvider) (string, error) {
	if len(sp.ClientSecretSealed) == 0 {
		return "", nil
	}
	aead, err := s.aead()
	if err != nil {
		return "", err
	}
	n := aead.NonceSize()
	if len(sp.ClientSecretSealed) < n {
		return "", errors.New("sealed sso client secret is too short")
	}
	plain, err := aead.Open(nil, sp.ClientSecretSealed[:n], sp.ClientSecretSealed[n:], []byte("latchkey sso client secret"))
	if err != nil {
		return "", latchkey.Errorf(latchkey.EInternal, "The SSO client secret cannot be opened with this deployment's secret key; enter the client secret again.")
	}
	return string(plain), nil
}

func (s *Service) aead() (cipher.AEAD, error) {
	if len(s.SecretKey) == 0 {
		return nil, latchkey.FieldError("client_secret",
			"This deployment has no secret key to protect SSO client secrets with; the operator sets --secret-key (LATCHKEY_SECRET_KEY) first.")
	}
	key := sha256.Sum256(append([]byte("latchkey sso client secret\x00"), s.SecretKey...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ErrSSONotConfigured answers a sign-in URL whose slug names no active provider.
var ErrSSONotConfigured = &latchkey.Error{Code: latchkey.ENotFound, Message: "Single sign-on is not set up for this account. Check the sign-in link, or sign in with your email and password."}

// SSOProviderBySlug finds the active provider a sign-in URL names (no principal: the person
// is not signed in yet).
func (s *Service) SSOProviderBySlug(ctx context.Context, slug string) (*latchkey.SSOProvider, error) {
	if !slugPattern.MatchString(slug) {
		return nil, ErrSSONotConfigured
	}
	active := latchkey.StateActive
	sps, err := s.store.FindSSOProviders(ctx, latchkey.SSOProviderFilter{Slug: &slug, State: &active})
	if err != nil {
		return nil, err
	}
	if len(sps) == 0 {
		return nil, ErrSSONotConfigured
	}
	return sps[0], nil
}

// SSOSignInFailed audits a failed SSO sign-in in the provider's account. reason is a short code
// (state_mismatch, nonce_mismatch, email_unverified, idp_unavailable, ...); email, when the
// provider said one, is the address it claimed.
func (s *Service) SSOSignInFailed(ctx context.Context, sp *latchkey.SSOProvider, reason, email string) error {
	actor := latchkey.ActorFrom(ctx)
	actor.Type, actor.Name, actor.Source = "anonymous", "sso", "ui"
	if email != "" {
		actor.Name = email
	}
	c := map[string]any{"auth_provider_id": sp.ID, "reason": reason}
	if email != "" {
		c["email"] = email
	}
	return s.store.AppendAudit(latchkey.WithActor(ctx, actor), &latchkey.AuditEntry{AccountID: sp.AccountID,
		EventType: "user.sso_sign_in_failed", Context: c})
}

// licenseRank orders licenses by what they give, for a user in several mapped IdP groups.
var licenseRank = []latchkey.License{latchkey.LicenseDeveloper, latchkey.LicenseAnalyst, latchkey.LicenseIT, latchkey.LicenseReadOnly}

// mappedLicense returns the license the account's license maps give someone in groups, or ""
// when no map matches.
func mappedLicense(maps []*latchkey.LicenseMap, groups []string) latchkey.License {
	best := -1
	for _, m := range maps {
		if !intersects(m.SSOGroups, groups) {
			continue
		}
		if r := slices.Index(licenseRank, m.License); r >= 0 && (best < 0 || r < best) {
			best = r
		}
	}
	if best < 0 {
		return ""
	}
	return licenseRank[best]
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// SSOSignIn signs in the person a verified ID token describes, to the provider's account: it
// finds the user by email or creates them (just in time), makes them a member (the default
// groups, and the license the license maps give, developer when none does), makes their
// membership of every group that has sso_mapping_groups follow the IdP's groups claim, applies
// the license maps again, and starts a session — all in one transaction, audited. The IdP must
// have verified the email. Nothing it does may leave the account without an owner.
func (s *Service) SSOSignIn(ctx context.Context, sp *latchkey.SSOProvider, id latchkey.SSOIdentity, maxAge time.Duration) (*NewSession, *latchkey.User, error) {
	if !id.EmailVerified {
		return nil, nil, &latchkey.Error{Code: latchkey.EUnauthorized, Message: "Your identity provider has not verified your email address, so latchkey cannot sign you in with it. Verify the address with your identity provider, then try again."}
	}
	email, err := cleanEmail(id.Email)
	if err != nil {
		return nil, nil, &latchkey.Error{Code: latchkey.EUnauthorized, Message: "Your identity provider did not send a usable email address, so latchkey cannot sign you in with it."}
	}
	first, _ := cleanPersonName("first_name", id.FirstName)
	last, _ := cleanPersonName("last_name", id.LastName)
	var out *NewSession
	var user *latchkey.User
	err = s.inTx(latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "sso", IP: latchkey.ActorFrom(ctx).IP, Source: "ui"}), func(ctx context.Context) error {
		u, err := s.store.FindUserByEmail(ctx, email)
		switch latchkey.ErrorCodeOf(err) {
		case "":
			if !u.IsActive {
				return &latchkey.Error{Code: latchkey.EUnauthorized, Message: "Your latchkey user is deactivated; ask an account admin."}
			}
			// An IdP may assert any email. It signs in only people it created or this account's
			// admins added: it must not pull a person of another account into this one, nor
			// bring back someone an admin removed.
			active := latchkey.StateActive
			ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &sp.AccountID, UserID: &u.ID, State: &active})
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				return &latchkey.Error{Code: latchkey.EForbidden, Message: "A latchkey user with your email address exists but is not a member of this account, so single sign-on cannot add you. Ask an admin of this account to add you, then sign in again."}
			}
		case latchkey.ENotFound:
			// No password: this user signs in through the IdP until someone sets one.
			u = &latchkey.User{Email: email, FirstName: first, LastName: last, IsActive: true}
			if err := s.store.CreateUser(ctx, u); err != nil {
				return err
			}
		default:
			return err
		}
		user = u
		active := latchkey.StateActive
		maps, err := s.store.FindLicenseMaps(ctx, sp.AccountID, &active)
		if err != nil {
			return err
		}
		license := mappedLicense(maps, id.Groups)
		return s.keepOwner(ctx, sp.AccountID, func() error {
			if err := s.joinBySSO(ctx, sp.AccountID, u.ID, license); err != nil {
				return err
			}
			if err := s.mapSSOGroups(ctx, sp.AccountID, u.ID, id.Groups); err != nil {
				return err
			}
			out, err = s.createSession(ctx, u, sp.AccountID, maxAge, "sso")
			return err
		})
	})
	if latchkey.ErrorCodeOf(err) == latchkey.EConflict {
		return nil, user, &latchkey.Error{Code: latchkey.EForbidden, Message: "Signing you in with these identity provider groups would leave the account without an owner; ask an account admin to check the SSO group and license mappings."}
	}
	if err != nil {
		return nil, user, err
	}
	return out, user, nil
}

// joinBySSO makes the user an active member of the account: new members join the default
// groups with license (developer when no license map gives one); a returning member gets
// license when a map gives one.
func (s *Service) joinBySSO(ctx context.Context, accountID, userID int64, license latchkey.License) error {
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &accountID, UserID: &userID})
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		if license == "" {
			license = latchkey.LicenseDeveloper
		}
		return s.store.CreateMembership(ctx, &latchkey.Membership{AccountID: accountID, UserID: userID, License: license}, nil)
	}
	m := ms[0]
	var upd latchkey.MembershipUpdate
	if m.State != latchkey.StateActive {
		active := latchkey.StateActive
		upd.State = &active
	}
	if license != "" && license != m.License {
		upd.License = &license
	}
	if upd.State == nil && upd.License == nil {
		return nil
	}
	_, err = s.store.UpdateMembership(ctx, m.ID, upd)
	return err
}

// mapSSOGroups makes the user's membership of each group with sso_mapping_groups follow the
// IdP's groups: in when one of its mapping groups is among them, out otherwise. Groups without
// mapping groups are left as they are.
func (s *Service) mapSSOGroups(ctx context.Context, accountID, userID int64, idpGroups []string) error {
	groups, err := s.activeGroups(ctx, accountID)
	if err != nil {
		return err
	}
	active := latchkey.StateActive
	mine, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: accountID, UserID: &userID, State: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return err
	}
	var have, want []int64
	for _, g := range mine {
		have = append(have, g.ID)
	}
	for _, g := range groups {
		member := slices.Contains(have, g.ID)
		if len(g.SSOMappingGroups) > 0 {
			member = intersects(g.SSOMappingGroups, idpGroups)
		}
		if member {
			want = append(want, g.ID)
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	if slices.Equal(have, want) {
		return nil
	}
	return s.store.SetUserGroups(ctx, accountID, userID, want)
}

// ErrSSORequired refuses password sign-in to a member of an account that signs in with SSO
// only. It is given only after the password was checked, so it tells nothing to someone who
// does not know the password.
func errSSORequired(a *latchkey.Account, sp *latchkey.SSOProvider) error {
	return &latchkey.Error{Code: latchkey.EUnauthorized, Message: fmt.Sprintf(
		"Password sign-in is turned off for %s: sign in with SSO at /login/sso/%s.", a.Name, sp.Slug)}
}

// checkPasswordAllowed refuses password sign-in to a user none of whose accounts takes it: in
// each, single sign-on has password sign-in off and the user is not an owner there (see
// passwordAllowedIn). One account's single sign-on never refuses a password for another.
func (s *Service) checkPasswordAllowed(ctx context.Context, u *latchkey.User) error {
	active := latchkey.StateActive
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{UserID: &u.ID, State: &active})
	if err != nil {
		return err
	}
	var refusal error
	for _, m := range ms {
		err := s.passwordAllowedIn(ctx, u.ID, m.AccountID)
		if err == nil {
			return nil
		}
		if latchkey.SystemError(err) {
			return err
		}
		if refusal == nil {
			refusal = err
		}
	}
	return refusal
}

// passwordAllowedIn refuses a password-started session of user userID in accountID when the
// account's single sign-on has password sign-in off and the user is not one of its owners (the
// break-glass admins).
func (s *Service) passwordAllowedIn(ctx context.Context, userID, accountID int64) error {
	active := latchkey.StateActive
	sps, err := s.store.FindSSOProviders(ctx, latchkey.SSOProviderFilter{AccountID: &accountID, State: &active})
	if err != nil {
		return err
	}
	if len(sps) == 0 || sps[0].AllowPasswordBackdoor {
		return nil
	}
	owners, err := s.store.FindAccountAdmins(ctx, accountID)
	if err != nil {
		return err
	}
	if slices.Contains(owners, userID) {
		return nil
	}
	a, err := s.store.FindAccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	return errSSORequired(a, sps[0])
}

// CheckPasswordSession refuses to let a session that a password started act in accountID when
// that account takes only single sign-on for the user (passwordAllowedIn): a session from before
// password sign-in was turned off, or one switching accounts.
func (s *Service) CheckPasswordSession(ctx context.Context, sess *latchkey.Session, accountID int64) error {
	if sess.SSOAccountID != 0 {
		return nil
	}
	return s.passwordAllowedIn(ctx, sess.UserID, accountID)
}

// createSession starts a session for u in accountID (where u is an active member), audited as
// user.signed_in with the sign-in method, inside the caller's transaction.
func (s *Service) createSession(ctx context.Context, u *latchkey.User, accountID int64, maxAge time.Duration, method string) (*NewSession, error) {
	actor := latchkey.ActorFrom(ctx)
	actor.Type, actor.ID, actor.Name, actor.Source = string(latchkey.PrincipalUser), u.ID, u.FullName(), "ui"
	value := randomString(32)
	h := sha256.Sum256([]byte(value))
	sess := &latchkey.Session{Hash: h[:], UserID: u.ID, AccountID: accountID, CSRFSecret: randomString(24), ExpiresAt: s.Now().Add(maxAge)}
	if method == "sso" {
		sess.SSOAccountID = accountID
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: accountID, EventType: "user.signed_in",
		ActorType: actor.Type, ActorID: actor.ID, ActorName: actor.Name, ActorIP: actor.IP, Source: actor.Source,
		Context: map[string]any{"user_id": u.ID, "method": method}}); err != nil {
		return nil, err
	}
	return &NewSession{Cookie: value, Session: sess}, nil
}

// CheckSessionAccount refuses to let a session act in accountID when single sign-on started it
// in another account: that account's identity provider vouched for the person, no other's did
// (else an account's IdP could sign someone in to every account they belong to).
func CheckSessionAccount(sess *latchkey.Session, accountID int64) error {
	if sess.SSOAccountID != 0 && accountID != sess.SSOAccountID {
		return latchkey.Errorf(latchkey.EForbidden,
			"this session was started with single sign-on for another account and acts only there; sign out and sign in to account %d", accountID)
	}
	return nil
}
