package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/apitype"
)

// CheckRequest asks /v1/check whether Token may have Access ("read" or "write") on Resource;
// ProjectID, EnvironmentCategory and ClientIP are left out when zero.
type CheckRequest struct {
	Token               string
	Resource            string
	Access              string
	ProjectID           int64
	EnvironmentCategory string
	ClientIP            string
}

// wire is the request on the wire.
func (r CheckRequest) wire() apitype.CheckRequest {
	w := apitype.CheckRequest{Token: &r.Token, Resource: &r.Resource, Access: &r.Access}
	if r.ProjectID != 0 {
		w.ProjectID = &r.ProjectID
	}
	if r.EnvironmentCategory != "" {
		w.EnvironmentCategory = &r.EnvironmentCategory
	}
	if r.ClientIP != "" {
		w.ClientIP = &r.ClientIP
	}
	return w
}

// CheckResult is /v1/check's answer.
type CheckResult = apitype.CheckResult

// Check calls /v1/check. The client's own token must hold service_tokens:read in the account.
func (c *Client) Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	b, err := json.Marshal(req.wire())
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/check", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Token "+c.Token)
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// A check that could not be made (503 unavailable, 500 error) keeps the answer's shape;
		// the caller's own failures (401, 403, 400) are enveloped.
		var res CheckResult
		if json.Unmarshal(raw, &res) == nil && res.Reason != "" {
			return nil, &APIError{StatusCode: resp.StatusCode, Message: res.Message, Code: res.Reason}
		}
		var env apitype.Envelope
		_ = json.Unmarshal(raw, &env)
		return nil, &APIError{StatusCode: resp.StatusCode, Message: env.Status.UserMessage, Code: env.Status.DeveloperMessage}
	}
	var out CheckResult
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode /v1/check answer: %w", err)
	}
	return &out, nil
}

// Checker asks a latchkey server through /v1/check and remembers answers briefly, for resource
// servers that do not embed a verifier. A cached "allowed" can outlive a revocation by up to
// TTL; use the verify package in process when that matters.
type Checker struct {
	Client *Client
	// TTL is how long an answer is reused (default 2 s).
	TTL time.Duration
	// MaxEntries bounds the cache (default 10,000; the cache is cleared when full).
	MaxEntries int

	mu    sync.Mutex
	cache map[checkKey]checkEntry
}

type checkKey struct {
	token               [sha256.Size]byte
	resource, access    string
	project             int64
	environment, client string
}

type checkEntry struct {
	res   *CheckResult
	until time.Time
}

// Check answers req from the cache or the server.
func (ch *Checker) Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	ttl := ch.TTL
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	k := checkKey{token: sha256.Sum256([]byte(req.Token)), resource: req.Resource, access: req.Access,
		project: req.ProjectID, environment: req.EnvironmentCategory, client: req.ClientIP}
	now := time.Now()
	ch.mu.Lock()
	if e, ok := ch.cache[k]; ok && now.Before(e.until) {
		ch.mu.Unlock()
		return e.res, nil
	}
	ch.mu.Unlock()
	res, err := ch.Client.Check(ctx, req)
	if err != nil {
		return nil, err
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	max := ch.MaxEntries
	if max <= 0 {
		max = 10_000
	}
	if ch.cache == nil || len(ch.cache) >= max {
		ch.cache = map[checkKey]checkEntry{}
	}
	ch.cache[k] = checkEntry{res: res, until: now.Add(ttl)}
	return res, nil
}

type checkResultKey struct{}

// CheckResultFrom returns the answer Middleware stored in the request context.
func CheckResultFrom(ctx context.Context) *CheckResult {
	r, _ := ctx.Value(checkResultKey{}).(*CheckResult)
	return r
}

// Middleware asks latchkey about every request: rule maps the request to the permission it
// needs. Allowed requests reach next with the answer in the context (CheckResultFrom); others
// get 401 (no valid token) or 403, with latchkey's message.
func (ch *Checker) Middleware(rule func(*http.Request) CheckRequest, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := rule(r)
		scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer") {
			req.Token = strings.TrimSpace(tok)
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && req.ClientIP == "" {
			req.ClientIP = host
		}
		status := http.StatusUnauthorized
		var res *CheckResult
		var err error
		if req.Token != "" {
			res, err = ch.Check(r.Context(), req)
		}
		switch {
		case err != nil:
			status, res = http.StatusBadGateway, &CheckResult{Reason: "error", Message: "could not reach latchkey"}
		case res == nil:
			res = &CheckResult{Reason: "missing", Message: "authentication required"}
		case res.Allowed:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), checkResultKey{}, res)))
			return
		case res.Reason == "forbidden" || res.Reason == "ip_denied":
			status = http.StatusForbidden
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": res.Message, "reason": res.Reason})
	})
}
