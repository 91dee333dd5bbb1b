package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// MaxTokenLifetimeCap bounds the account setting max_token_lifetime_seconds (10 years).
const MaxTokenLifetimeCap = 10 * 365 * 24 * time.Hour

type settingsRequest struct {
	AccountID               *int64          `json:"account_id"`
	ReuseRevokesFamily      *bool           `json:"reuse_revokes_family"`
	LeakAction              *string         `json:"leak_action"`
	MaxTokenLifetimeSeconds json.RawMessage `json:"max_token_lifetime_seconds"`
}

// handleAPIAccountSettingsUpdate changes the account's token policies: reuse_revokes_family,
// leak_action ("revoke" or "flag") and max_token_lifetime_seconds (0 for no cap). Fields left
// out keep their value. IP enforcement has its own endpoint (ip-restrictions-set), which guards
// against locking the caller out.
func (s *Server) handleAPIAccountSettingsUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResAccountSettings, latchkey.AccessWrite); err != nil {
		return err
	}
	var req settingsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	set := a.Settings
	if req.ReuseRevokesFamily != nil {
		set.ReuseRevokesFamily = *req.ReuseRevokesFamily
	}
	if req.LeakAction != nil {
		switch *req.LeakAction {
		case "revoke", "flag":
			set.LeakAction = *req.LeakAction
		default:
			return latchkey.FieldError("leak_action", "leak_action must be \"revoke\" or \"flag\"")
		}
	}
	if len(req.MaxTokenLifetimeSeconds) > 0 && string(req.MaxTokenLifetimeSeconds) != "null" {
		n, err := strconv.ParseInt(string(req.MaxTokenLifetimeSeconds), 10, 64)
		if err != nil || n < 0 || n > int64(MaxTokenLifetimeCap/time.Second) {
			return latchkey.FieldError("max_token_lifetime_seconds", "max_token_lifetime_seconds must be an integer from 0 (no limit) to %d (10 years)",
				int64(MaxTokenLifetimeCap/time.Second))
		}
		set.MaxTokenLifetime = time.Duration(n) * time.Second
	}
	a, err = s.store.UpdateAccount(r.Context(), p.AccountID, latchkey.AccountUpdate{Settings: &set})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AccountOf(a), nil)
	return nil
}
