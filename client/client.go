// Package client is a Go client for latchkey's admin API. The CLI and the end-to-end tests use
// it; so can automation. Errors from the server come back as *APIError with the HTTP status and
// the server's message.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/apitype"
)

// Client calls one latchkey server.
type Client struct {
	// BaseURL is the server's root, e.g. http://127.0.0.1:8420.
	BaseURL string
	// Token authenticates requests (Authorization: Token …). Empty for session use.
	Token string
	// HTTP is the underlying client; nil means a client with a 30 s timeout.
	HTTP      *http.Client
	UserAgent string
}

// New returns a client for baseURL authenticating with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second},
		UserAgent: "latchkey-go-client"}
}

// APIError is a non-success response.
type APIError struct {
	StatusCode int
	Message    string
	// Code is the error code (developer_message), e.g. "forbidden".
	Code string
	// Field names the invalid input for 400s.
	Field string
	// Data is the response's data member.
	Data map[string]any
}

func (e *APIError) Error() string {
	// No "latchkey:" prefix: the CLI adds its own, and other callers name the server as they like.
	return fmt.Sprintf("%d %s", e.StatusCode, e.Message)
}

// StatusOf returns the HTTP status of an *APIError, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// Do sends a request and decodes the envelope's data into out (may be nil). It returns the
// envelope for callers that need extra.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (*apitype.Envelope, error) {
	return c.do(ctx, method, path, body, out, "")
}

// CreateRetries is how many times a token creation is sent again after its answer was lost (no
// response) or said the server could not reach its storage (503). Every try carries the same
// Idempotency-Key, so at most one token is created: when an earlier try did create it, the
// retry's answer is a 409 whose message gives the token's id (its string cannot be shown again).
const CreateRetries = 2

// create sends a token creation with a new Idempotency-Key, and again with the same key (after
// 1 s, then 2 s) when its answer was lost or 503.
func (c *Client) create(ctx context.Context, path string, body, out any) error {
	key, err := newIdempotencyKey()
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		_, err = c.do(ctx, http.MethodPost, path, body, out, key)
		if try == CreateRetries || !retryable(ctx, err) {
			return err
		}
		t := time.NewTimer(time.Duration(try+1) * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryable reports whether a creation that failed with err may be sent again with its key.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusServiceUnavailable
	}
	var ue *url.Error
	return errors.As(err, &ue) // the request went out, or may have; no answer came back
}

func newIdempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any, idempotencyKey string) (*apitype.Envelope, error) {
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rdr)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Token "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	var env apitype.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, &APIError{StatusCode: resp.StatusCode, Message: fmt.Sprintf("unexpected response (%s)", http.StatusText(resp.StatusCode))}
	}
	if resp.StatusCode >= 300 || !env.Status.IsSuccess {
		ae := &APIError{StatusCode: resp.StatusCode, Message: env.Status.UserMessage, Code: env.Status.DeveloperMessage}
		if len(env.Data) > 0 {
			_ = json.Unmarshal(env.Data, &ae.Data)
			if f, ok := ae.Data["field"].(string); ok {
				ae.Field = f
			}
		}
		return &env, ae
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return &env, fmt.Errorf("decode response: %w", err)
		}
	}
	return &env, nil
}

// ListOptions page and filter lists.
type ListOptions struct {
	Limit, Offset int
	// State is "1", "2" or "all" (default: active only).
	State string
}

func (o ListOptions) query() string {
	v := url.Values{}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		v.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.State != "" {
		v.Set("state", o.State)
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func list[T any](ctx context.Context, c *Client, path string, o ListOptions) ([]T, int, error) {
	var out []T
	env, err := c.Do(ctx, http.MethodGet, path+o.query(), nil, &out)
	if err != nil {
		return nil, 0, err
	}
	var extra apitype.ListExtra
	if len(env.Extra) > 0 {
		_ = json.Unmarshal(env.Extra, &extra)
	}
	return out, extra.Pagination.TotalCount, nil
}

func acct(id int64) string { return "/api/v3/accounts/" + strconv.FormatInt(id, 10) }

// Whoami describes the caller.
func (c *Client) Whoami(ctx context.Context) (*apitype.Whoami, error) {
	var w apitype.Whoami
	_, err := c.Do(ctx, http.MethodGet, "/api/v2/whoami/", nil, &w)
	return &w, err
}

// Accounts lists the accounts the caller can see.
func (c *Client) Accounts(ctx context.Context) ([]apitype.Account, error) {
	out, _, err := list[apitype.Account](ctx, c, "/api/v2/accounts/", ListOptions{})
	return out, err
}

// Projects lists readable projects.
func (c *Client) Projects(ctx context.Context, accountID int64, o ListOptions) ([]apitype.Project, int, error) {
	return list[apitype.Project](ctx, c, acct(accountID)+"/projects/", o)
}

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, accountID int64, name, description string) (*apitype.Project, error) {
	var p apitype.Project
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/projects/", apitype.ProjectRequest{Name: &name, Description: &description}, &p)
	return &p, err
}

// DeleteProject deletes a project.
func (c *Client) DeleteProject(ctx context.Context, accountID, id int64) error {
	_, err := c.Do(ctx, http.MethodDelete, fmt.Sprintf("%s/projects/%d/", acct(accountID), id), nil, nil)
	return err
}

// GrantOn returns a grant of set on one project (project > 0) or all projects (project == 0).
func GrantOn(set string, project int64, writableEnvs ...string) apitype.Grant {
	g := apitype.Grant{PermissionSet: set, AllProjects: project == 0, WritableEnvironmentCategories: writableEnvs}
	if project != 0 {
		g.ProjectID = &project
	}
	return g
}

// CreateServiceTokenRequest creates a service token in one step. ExpiresAt (RFC 3339) and
// AllowedCIDRs are left out when empty.
type CreateServiceTokenRequest struct {
	Name             string
	PermissionGrants []apitype.Grant
	ExpiresAt        string
	AllowedCIDRs     []string
	RateLimits       []apitype.RateLimit
	Credits          *apitype.Credits
}

// grantRequests turns grants into the request shape.
func grantRequests(gs []apitype.Grant) []apitype.GrantRequest {
	out := make([]apitype.GrantRequest, len(gs))
	for i, g := range gs {
		out[i] = apitype.GrantRequest{PermissionSet: &g.PermissionSet, AllProjects: &g.AllProjects, ProjectID: g.ProjectID,
			WritableEnvironmentCategories: g.WritableEnvironmentCategories}
	}
	return out
}

// CreateServiceToken creates a token; the result's TokenString is the only copy. It is sent with
// an Idempotency-Key and retried (see CreateRetries) when its answer is lost or 503.
func (c *Client) CreateServiceToken(ctx context.Context, accountID int64, req CreateServiceTokenRequest) (*apitype.Token, error) {
	grants := grantRequests(req.PermissionGrants)
	body := apitype.TokenRequest{Name: &req.Name, PermissionGrants: &grants}
	if req.ExpiresAt != "" {
		body.ExpiresAt, _ = json.Marshal(req.ExpiresAt)
	}
	if req.AllowedCIDRs != nil {
		body.AllowedCIDRs = &req.AllowedCIDRs
	}
	if req.RateLimits != nil {
		body.RateLimits = &req.RateLimits
	}
	if req.Credits != nil {
		body.Credits, _ = json.Marshal(req.Credits)
	}
	var t apitype.Token
	err := c.create(ctx, acct(accountID)+"/service-tokens/", body, &t)
	return &t, err
}

// ServiceTokens lists service tokens.
func (c *Client) ServiceTokens(ctx context.Context, accountID int64, o ListOptions) ([]apitype.Token, int, error) {
	return list[apitype.Token](ctx, c, acct(accountID)+"/service-tokens/", o)
}

// ServiceToken gets one service token.
func (c *Client) ServiceToken(ctx context.Context, accountID, id int64) (*apitype.Token, error) {
	var t apitype.Token
	_, err := c.Do(ctx, http.MethodGet, fmt.Sprintf("%s/service-tokens/%d/", acct(accountID), id), nil, &t)
	return &t, err
}

// RenameServiceToken renames a token.
func (c *Client) RenameServiceToken(ctx context.Context, accountID, id int64, name string) (*apitype.Token, error) {
	var t apitype.Token
	_, err := c.Do(ctx, http.MethodPut, fmt.Sprintf("%s/service-tokens/%d/", acct(accountID), id), apitype.TokenRequest{Name: &name}, &t)
	return &t, err
}

// SetServiceTokenRateLimits replaces a token's rate limits (empty: none).
func (c *Client) SetServiceTokenRateLimits(ctx context.Context, accountID, id int64, limits []apitype.RateLimit) (*apitype.Token, error) {
	if limits == nil {
		limits = []apitype.RateLimit{}
	}
	var t apitype.Token
	_, err := c.Do(ctx, http.MethodPut, fmt.Sprintf("%s/service-tokens/%d/", acct(accountID), id), apitype.TokenRequest{RateLimits: &limits}, &t)
	return &t, err
}

// SetServiceTokenCredits sets a token's credits (nil: removes them, for unlimited use).
func (c *Client) SetServiceTokenCredits(ctx context.Context, accountID, id int64, credits *apitype.Credits) (*apitype.Token, error) {
	var t apitype.Token
	path := fmt.Sprintf("%s/service-tokens/%d/credits/", acct(accountID), id)
	var err error
	if credits == nil {
		_, err = c.Do(ctx, http.MethodDelete, path, nil, &t)
	} else {
		_, err = c.Do(ctx, http.MethodPut, path, credits, &t)
	}
	return &t, err
}

// ServiceTokenUsage reads a token's verifications by outcome over [from, to) (zero times: the
// server's defaults, the last 24 hours) at granularity ("minute", "hour", "day"; "": the
// server's choice), and the addresses it was last used from.
func (c *Client) ServiceTokenUsage(ctx context.Context, accountID, id int64, from, to time.Time, granularity string) (*apitype.TokenUsage, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	if granularity != "" {
		q.Set("granularity", granularity)
	}
	path := fmt.Sprintf("%s/service-tokens/%d/usage/", acct(accountID), id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var u apitype.TokenUsage
	_, err := c.Do(ctx, http.MethodGet, path, nil, &u)
	return &u, err
}

// DeleteServiceToken revokes a token.
func (c *Client) DeleteServiceToken(ctx context.Context, accountID, id int64) (*apitype.Token, error) {
	var t apitype.Token
	_, err := c.Do(ctx, http.MethodDelete, fmt.Sprintf("%s/service-tokens/%d/", acct(accountID), id), nil, &t)
	return &t, err
}

// RotateServiceToken mints a successor; the old token stays valid for grace (0: revoked at once).
func (c *Client) RotateServiceToken(ctx context.Context, accountID, id int64, grace time.Duration) (*apitype.Token, error) {
	g := json.Number(strconv.FormatInt(int64(grace/time.Second), 10))
	return c.rotateServiceToken(ctx, accountID, id, apitype.RotateRequest{GracePeriodSeconds: &g})
}

// RotateServiceTokenDefault mints a successor; the old token stays valid for the account's
// default rotation grace (an hour unless changed).
func (c *Client) RotateServiceTokenDefault(ctx context.Context, accountID, id int64) (*apitype.Token, error) {
	return c.rotateServiceToken(ctx, accountID, id, apitype.RotateRequest{})
}

func (c *Client) rotateServiceToken(ctx context.Context, accountID, id int64, req apitype.RotateRequest) (*apitype.Token, error) {
	var t apitype.Token
	_, err := c.Do(ctx, http.MethodPost, fmt.Sprintf("%s/service-tokens/%d/rotate/", acct(accountID), id), req, &t)
	return &t, err
}

// ReplaceServiceTokenPermissions replaces a token's grants.
func (c *Client) ReplaceServiceTokenPermissions(ctx context.Context, accountID, id int64, grants []apitype.Grant) ([]apitype.Permission, error) {
	var out []apitype.Permission
	_, err := c.Do(ctx, http.MethodPut, fmt.Sprintf("%s/service-tokens/%d/permissions/", acct(accountID), id), grantRequests(grants), &out)
	return out, err
}

// CreatePAT creates a personal access token for userID (the caller must be that user), retried
// like CreateServiceToken.
func (c *Client) CreatePAT(ctx context.Context, accountID, userID int64, name string) (*apitype.Token, error) {
	var t apitype.Token
	err := c.create(ctx, fmt.Sprintf("%s/users/%d/account-apikeys/", acct(accountID), userID), apitype.PATRequest{Name: &name}, &t)
	return &t, err
}

// PATs lists a user's personal access tokens.
func (c *Client) PATs(ctx context.Context, accountID, userID int64, o ListOptions) ([]apitype.Token, int, error) {
	return list[apitype.Token](ctx, c, fmt.Sprintf("%s/users/%d/account-apikeys/", acct(accountID), userID), o)
}

// DeletePAT deletes a personal access token.
func (c *Client) DeletePAT(ctx context.Context, accountID, userID, id int64) error {
	_, err := c.Do(ctx, http.MethodDelete, fmt.Sprintf("%s/users/%d/account-apikeys/%d/", acct(accountID), userID, id), nil, nil)
	return err
}

// Groups lists groups.
func (c *Client) Groups(ctx context.Context, accountID int64, o ListOptions) ([]apitype.Group, int, error) {
	return list[apitype.Group](ctx, c, acct(accountID)+"/groups/", o)
}

// CreateGroup creates a group with grants.
func (c *Client) CreateGroup(ctx context.Context, accountID int64, name string, grants []apitype.Grant) (*apitype.Group, error) {
	var g apitype.Group
	reqs := grantRequests(grants)
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/groups/", apitype.GroupRequest{Name: &name, GroupPermissions: &reqs}, &g)
	return &g, err
}

// AssignGroups sets a user's groups.
func (c *Client) AssignGroups(ctx context.Context, accountID, userID int64, groupIDs []int64) ([]apitype.Group, error) {
	var out []apitype.Group
	if groupIDs == nil {
		groupIDs = []int64{}
	}
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/assign-groups/", apitype.AssignGroupsRequest{UserID: &userID, DesiredGroupIDs: groupIDs}, &out)
	return out, err
}

// Users lists the account's users.
func (c *Client) Users(ctx context.Context, accountID int64, o ListOptions) ([]apitype.User, int, error) {
	return list[apitype.User](ctx, c, acct(accountID)+"/users/", o)
}

// CreateUserRequest adds a user to an account; empty names and password are left out, and nil
// GroupIDs means the account's default groups.
type CreateUserRequest struct {
	Email       string
	FirstName   string
	LastName    string
	Password    string
	LicenseType string
	GroupIDs    []int64
}

// CreateUser adds a user.
func (c *Client) CreateUser(ctx context.Context, accountID int64, req CreateUserRequest) (*apitype.User, error) {
	body := apitype.UserCreateRequest{Email: &req.Email, LicenseType: &req.LicenseType, GroupIDs: req.GroupIDs}
	for dst, src := range map[**string]string{&body.FirstName: req.FirstName, &body.LastName: req.LastName, &body.Password: req.Password} {
		if src != "" {
			*dst = &src
		}
	}
	var u apitype.User
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/users/", body, &u)
	return &u, err
}

// UpdateLicense changes a membership's license (and state when non-zero).
func (c *Client) UpdateLicense(ctx context.Context, accountID, membershipID int64, license string, state int) (*apitype.Membership, error) {
	var body apitype.LicenseRequest
	if license != "" {
		body.LicenseType = &license
	}
	if state != 0 {
		body.State = &state
	}
	var m apitype.Membership
	_, err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v2/accounts/%d/permissions/%d/", accountID, membershipID), body, &m)
	return &m, err
}

// Login signs in with email and password through the web sign-in form and returns a client that
// carries the session cookie instead of a token.
func Login(ctx context.Context, baseURL, email, password string) (*Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	base := strings.TrimRight(baseURL, "/")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	csrf := formValue(string(page), "csrf_token")
	form := url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, &APIError{StatusCode: resp.StatusCode, Message: "sign-in failed"}
	}
	hc.CheckRedirect = nil
	return &Client{BaseURL: base, HTTP: hc, UserAgent: "latchkey-go-client"}, nil
}

// formValue finds the value of a hidden input by name in a rendered page.
func formValue(page, name string) string {
	i := strings.Index(page, `name="`+name+`" value="`)
	if i < 0 {
		return ""
	}
	rest := page[i+len(`name="`+name+`" value="`):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// webhookPath is the path of a subscription ("…/webhooks/subscription/wsu_12/").
func webhookPath(accountID, id int64) string {
	return acct(accountID) + "/webhooks/subscription/" + apitype.WebhookID(id) + "/"
}

// Webhooks lists the account's webhook subscriptions.
func (c *Client) Webhooks(ctx context.Context, accountID int64, o ListOptions) ([]apitype.WebhookSubscription, int, error) {
	return list[apitype.WebhookSubscription](ctx, c, acct(accountID)+"/webhooks/subscriptions/", o)
}

// CreateWebhook subscribes an endpoint; the answer's HMACSecret is shown this once.
func (c *Client) CreateWebhook(ctx context.Context, accountID int64, req apitype.WebhookRequest) (*apitype.WebhookSubscription, error) {
	var w apitype.WebhookSubscription
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/webhooks/subscriptions/", req, &w)
	return &w, err
}

// Webhook reads a subscription.
func (c *Client) Webhook(ctx context.Context, accountID, id int64) (*apitype.WebhookSubscription, error) {
	var w apitype.WebhookSubscription
	_, err := c.Do(ctx, http.MethodGet, webhookPath(accountID, id), nil, &w)
	return &w, err
}

// UpdateWebhook changes the fields req gives; the others keep their value.
func (c *Client) UpdateWebhook(ctx context.Context, accountID, id int64, req apitype.WebhookRequest) (*apitype.WebhookSubscription, error) {
	var w apitype.WebhookSubscription
	_, err := c.Do(ctx, http.MethodPut, webhookPath(accountID, id), req, &w)
	return &w, err
}

// DeleteWebhook deletes a subscription.
func (c *Client) DeleteWebhook(ctx context.Context, accountID, id int64) error {
	_, err := c.Do(ctx, http.MethodDelete, webhookPath(accountID, id), nil, nil)
	return err
}

// TestWebhook sends a test event now and returns how the endpoint answered.
func (c *Client) TestWebhook(ctx context.Context, accountID, id int64) (*apitype.WebhookTest, error) {
	var t apitype.WebhookTest
	_, err := c.Do(ctx, http.MethodPost, webhookPath(accountID, id)+"test/", nil, &t)
	return &t, err
}

// RotateWebhookSecret gives a subscription a new secret (in HMACSecret, this once).
func (c *Client) RotateWebhookSecret(ctx context.Context, accountID, id int64) (*apitype.WebhookSubscription, error) {
	var w apitype.WebhookSubscription
	_, err := c.Do(ctx, http.MethodPost, webhookPath(accountID, id)+"rotate-secret/", nil, &w)
	return &w, err
}

// WebhookDeliveries pages a subscription's delivery log, newest first; o.State is pending,
// succeeded or failed ("" for all).
func (c *Client) WebhookDeliveries(ctx context.Context, accountID, id int64, o ListOptions) ([]apitype.WebhookDelivery, int, error) {
	return list[apitype.WebhookDelivery](ctx, c, webhookPath(accountID, id)+"deliveries/", o)
}

// WebhookDelivery reads a delivery with its payload and attempts.
func (c *Client) WebhookDelivery(ctx context.Context, accountID, deliveryID int64) (*apitype.WebhookDelivery, error) {
	var d apitype.WebhookDelivery
	_, err := c.Do(ctx, http.MethodGet, fmt.Sprintf("%s/webhooks/deliveries/%d/", acct(accountID), deliveryID), nil, &d)
	return &d, err
}

// Redeliver sends a delivery again, with the same message id.
func (c *Client) Redeliver(ctx context.Context, accountID, deliveryID int64) (*apitype.WebhookDelivery, error) {
	var d apitype.WebhookDelivery
	_, err := c.Do(ctx, http.MethodPost, fmt.Sprintf("%s/webhooks/deliveries/%d/redeliver/", acct(accountID), deliveryID), nil, &d)
	return &d, err
}

// TrustPolicies lists the account's trust policies (workload identity federation).
func (c *Client) TrustPolicies(ctx context.Context, accountID int64) ([]apitype.TrustPolicy, error) {
	var out []apitype.TrustPolicy
	_, err := c.Do(ctx, http.MethodGet, acct(accountID)+"/trust-policies/", nil, &out)
	return out, err
}

// CreateTrustPolicy creates a trust policy.
func (c *Client) CreateTrustPolicy(ctx context.Context, accountID int64, req apitype.TrustPolicyRequest) (*apitype.TrustPolicy, error) {
	var tp apitype.TrustPolicy
	_, err := c.Do(ctx, http.MethodPost, acct(accountID)+"/trust-policies/", req, &tp)
	return &tp, err
}

// TrustPolicy reads a trust policy.
func (c *Client) TrustPolicy(ctx context.Context, accountID, id int64) (*apitype.TrustPolicy, error) {
	var tp apitype.TrustPolicy
	_, err := c.Do(ctx, http.MethodGet, acct(accountID)+"/trust-policies/"+strconv.FormatInt(id, 10)+"/", nil, &tp)
	return &tp, err
}

// DeleteTrustPolicy deletes a trust policy: its access tokens are refused from then on.
func (c *Client) DeleteTrustPolicy(ctx context.Context, accountID, id int64) error {
	_, err := c.Do(ctx, http.MethodDelete, acct(accountID)+"/trust-policies/"+strconv.FormatInt(id, 10)+"/", nil, nil)
	return err
}
