package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Single sign-on configuration: dbt Cloud's auth-provider endpoints (one provider per account;
// type "oidc" with latchkey's OpenID Connect fields, see apitype.AuthProvider) and license maps.
// Rights and validation are admin's (account_admin or security_admin).

// baseURL is latchkey's external URL: --public-url when set, else the request's scheme (https
// when it came over TLS or a trusted proxy says so) and Host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || s.trusted(peerAddr(r)) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func ssoInput(req *apitype.AuthProviderRequest) admin.SSOProviderInput {
	return admin.SSOProviderInput{Type: req.Type, Slug: req.Slug, AllowPasswordBackdoor: req.AllowPasswordBackdoor, Issuer: req.Issuer,
		ClientID: req.ClientID, ClientSecret: req.ClientSecret, GroupsClaim: req.GroupsClaim}
}

func (s *Server) handleAPIAuthProviderList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	sps, err := s.admin.SSOProviders(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]apitype.AuthProvider, len(sps))
	for i, sp := range sps {
		out[i] = apitype.AuthProviderOf(sp, s.baseURL(r))
	}
	respondList(w, out, len(out), listParams{filters: map[string]any{}, orderBy: "id"})
	return nil
}

func (s *Server) handleAPIAuthProviderCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.AuthProviderRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	sp, err := s.admin.CreateSSOProvider(r.Context(), p, ssoInput(&req))
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.AuthProviderOf(sp, s.baseURL(r)), nil)
	return nil
}

func (s *Server) handleAPIAuthProviderGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "provider_id")
	if err != nil {
		return err
	}
	sp, err := s.admin.SSOProvider(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AuthProviderOf(sp, s.baseURL(r)), nil)
	return nil
}

// handleAPIAuthProviderUpdate changes the provider (POST, as dbt's clients do, or PUT); state 2
// deletes it.
func (s *Server) handleAPIAuthProviderUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "provider_id")
	if err != nil {
		return err
	}
	var req apitype.AuthProviderRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	deleting, err := deletesByState(req.State, "the provider")
	if err != nil {
		return err
	}
	if deleting {
		return s.handleAPIAuthProviderDelete(w, r, p)
	}
	sp, err := s.admin.UpdateSSOProvider(r.Context(), p, id, ssoInput(&req))
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AuthProviderOf(sp, s.baseURL(r)), nil)
	return nil
}

func (s *Server) handleAPIAuthProviderDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "provider_id")
	if err != nil {
		return err
	}
	if err := s.admin.DeleteSSOProvider(r.Context(), p, id); err != nil {
		return err
	}
	sp, err := s.admin.SSOProvider(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AuthProviderOf(sp, s.baseURL(r)), nil)
	return nil
}

func (s *Server) handleAPILicenseMapList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, "id")
	if err != nil {
		return err
	}
	maps, err := s.admin.LicenseMaps(r.Context(), p, lp.state)
	if err != nil {
		return err
	}
	total := len(maps)
	maps = maps[min(lp.offset, total):min(lp.offset+lp.limit, total)]
	out := make([]apitype.LicenseMap, len(maps))
	for i, m := range maps {
		out[i] = apitype.LicenseMapOf(m)
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) handleAPILicenseMapCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.LicenseMapRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.LicenseType == nil {
		return latchkey.FieldError("license_type", "license_type is required: developer, read_only, it or analyst")
	}
	var groups []string
	if req.SSOLicenseMappingGroups != nil {
		groups = *req.SSOLicenseMappingGroups
	}
	m, err := s.admin.CreateLicenseMap(r.Context(), p, latchkey.License(*req.LicenseType), groups)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.LicenseMapOf(m), nil)
	return nil
}

func (s *Server) handleAPILicenseMapGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "map_id")
	if err != nil {
		return err
	}
	m, err := s.admin.LicenseMap(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.LicenseMapOf(m), nil)
	return nil
}

// handleAPILicenseMapUpdate changes a license map (POST or PUT); state 2 deletes it.
func (s *Server) handleAPILicenseMapUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "map_id")
	if err != nil {
		return err
	}
	var req apitype.LicenseMapRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	deleting, err := deletesByState(req.State, "the license map")
	if err != nil {
		return err
	}
	if deleting {
		return s.handleAPILicenseMapDelete(w, r, p)
	}
	var license *latchkey.License
	if req.LicenseType != nil {
		l := latchkey.License(*req.LicenseType)
		license = &l
	}
	m, err := s.admin.UpdateLicenseMap(r.Context(), p, id, license, req.SSOLicenseMappingGroups)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.LicenseMapOf(m), nil)
	return nil
}

func (s *Server) handleAPILicenseMapDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "map_id")
	if err != nil {
		return err
	}
	if err := s.admin.DeleteLicenseMap(r.Context(), p, id); err != nil {
		return err
	}
	m, err := s.admin.LicenseMap(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.LicenseMapOf(m), nil)
	return nil
}
