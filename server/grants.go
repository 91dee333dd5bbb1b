package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// grantOwner says whose grants a request body carries, to check the ids it repeats.
type grantOwner struct {
	accountID, tokenID, groupID int64
}

// grantsOf turns requested grants into domain grants, checking only what the body says about
// itself (ids that must match the path). Everything else — scope, sets, projects, escalation —
// is the admin layer's to check. A grant without "all_projects": true gets no scope here, so it
// is refused there, never widened.
func grantsOf(reqs []apitype.GrantRequest, owner grantOwner) ([]latchkey.Grant, error) {
	out := make([]latchkey.Grant, 0, len(reqs))
	for i, gr := range reqs {
		g, err := grantOf(gr, owner)
		if err != nil {
			le := err.(*latchkey.Error)
			return nil, &latchkey.Error{Code: le.Code, Field: le.Field, Message: fmt.Sprintf("permission grant %d: %s", i+1, le.Message)}
		}
		out = append(out, g)
	}
	return out, nil
}

func grantOf(gr apitype.GrantRequest, owner grantOwner) (latchkey.Grant, error) {
	var g latchkey.Grant
	if err := checkAccountID(gr.AccountID, owner.accountID); err != nil {
		return g, err
	}
	if gr.ServiceTokenID != nil && owner.tokenID != 0 && *gr.ServiceTokenID != owner.tokenID {
		return g, latchkey.FieldError("service_token_id", "service_token_id %d does not match token %d in the path", *gr.ServiceTokenID, owner.tokenID)
	}
	if gr.GroupID != nil && owner.groupID != 0 && *gr.GroupID != owner.groupID {
		return g, latchkey.FieldError("group_id", "group_id %d does not match group %d in the path", *gr.GroupID, owner.groupID)
	}
	if gr.PermissionSet != nil {
		g.PermissionSet = *gr.PermissionSet
	}
	g.AllProjects = gr.AllProjects != nil && *gr.AllProjects
	if gr.ProjectID != nil {
		g.ProjectID = *gr.ProjectID
	}
	for _, c := range gr.WritableEnvironmentCategories {
		g.WritableEnvs = append(g.WritableEnvs, latchkey.EnvCategory(c))
	}
	return g, nil
}

// decodeGrantArray reads a JSON array of grants; an object with permission_grants is accepted too.
func decodeGrantArray(r *http.Request) ([]apitype.GrantRequest, error) {
	var raw json.RawMessage
	if err := decode(r, &raw); err != nil {
		return nil, err
	}
	var reqs []apitype.GrantRequest
	if err := json.Unmarshal(raw, &reqs); err == nil {
		return reqs, nil
	}
	var obj struct {
		PermissionGrants *[]apitype.GrantRequest `json:"permission_grants"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.PermissionGrants == nil {
		if err != nil {
			if de := decodeError(err); latchkey.ErrorCodeOf(de) == latchkey.EInvalid {
				return nil, de
			}
		}
		return nil, latchkey.Errorf(latchkey.EInvalid, "request body must be a JSON array of permission grants")
	}
	return *obj.PermissionGrants, nil
}
