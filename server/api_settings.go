package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// secondsParam parses an optional whole number of seconds (null or left out: nil).
func secondsParam(field string, raw json.RawMessage, max time.Duration, what string) (*time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 || n > int64(max/time.Second) {
		return nil, latchkey.FieldError(field, "%s must be an integer from 0 (%s) to %d", field, what, int64(max/time.Second))
	}
	d := time.Duration(n) * time.Second
	return &d, nil
}

// handleAPIAccountSettingsUpdate changes the account's token security policy:
// reuse_revokes_family, leak_action ("revoke" or "flag"), max_token_lifetime_seconds (0 for no
// cap), default_rotation_grace_seconds, expiry_notice_days, unused_token_days, default_rate_limits and
// max_access_token_lifetime_seconds. Fields left out
// keep their value. It needs
// account_admin or security_admin. IP enforcement has its own endpoint (ip-restrictions-set),
// which guards against locking the caller out.
func (s *Server) handleAPIAccountSettingsUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.SettingsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	u := admin.SettingsUpdate{ReuseRevokesFamily: req.ReuseRevokesFamily, LeakAction: req.LeakAction,
		ExpiryNoticeDays: req.ExpiryNoticeDays, UnusedTokenDays: req.UnusedTokenDays}
	var err error
	if req.DefaultRateLimits != nil {
		ls, err := rateLimitsOf("default_rate_limits", *req.DefaultRateLimits)
		if err != nil {
			return err
		}
		u.DefaultRateLimits = &ls
	}
	if u.MaxTokenLifetime, err = secondsParam("max_token_lifetime_seconds", req.MaxTokenLifetimeSeconds, admin.MaxTokenLifetimeCap, "no limit"); err != nil {
		return err
	}
	if u.DefaultRotationGrace, err = secondsParam("default_rotation_grace_seconds", req.DefaultRotationGraceSeconds, admin.MaxGracePeriod, "revoke at once"); err != nil {
		return err
	}
	if len(req.MaxAccessTokenLifetimeSeconds) > 0 && string(req.MaxAccessTokenLifetimeSeconds) != "null" {
		n, perr := strconv.ParseInt(string(req.MaxAccessTokenLifetimeSeconds), 10, 64)
		if perr != nil || n < 0 || n > int64(latchkey.MaxAccessTokenLifetimeCap/time.Second) {
			n = -1 // refused by the admin layer with its message
		}
		d := time.Duration(n) * time.Second
		u.MaxAccessTokenLifetime = &d
	}
	a, err := s.admin.UpdateSettings(r.Context(), p, u)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AccountOf(a), nil)
	return nil
}
