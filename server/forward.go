package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/verify"
)

// ForwardRules maps gateway requests (method and path) to the permission they need. The first
// matching rule decides; a request no rule matches is denied unless Default is "authenticated".
type ForwardRules struct {
	rules []forwardRule
	// authenticatedDefault lets any valid token through when no rule matches.
	authenticatedDefault bool
	// gateway says which gateway asks, and so which headers carry the original request.
	gateway Gateway
}

// Gateway names the proxy in front of an API that asks /v1/forward-auth about each request. It
// decides which headers latchkey believes for the original method and URI: only the ones that
// gateway sets itself (its recipe in docs/gateways.md makes sure of it), never a client's copy.
type Gateway string

// Gateways.
const (
	// GatewayGeneric reads both conventions (X-Original-* and X-Forwarded-*) and refuses a request
	// in which they disagree. It takes no environment_header.
	GatewayGeneric Gateway = "generic"
	// GatewayNginx reads X-Original-Method and X-Original-URI (auth_request, proxy_set_header).
	GatewayNginx Gateway = "nginx"
	// GatewayTraefik reads X-Forwarded-Method and X-Forwarded-Uri, which forwardAuth sets.
	GatewayTraefik Gateway = "traefik"
	// GatewayCaddy reads X-Forwarded-Method and X-Forwarded-Uri, which forward_auth sets.
	GatewayCaddy Gateway = "caddy"
	// GatewayEnvoy reads the request itself: ext_authz's HTTP service sends the original method,
	// and the original path after path_prefix (/v1/forward-auth); the gRPC service sends both in
	// its CheckRequest.
	GatewayEnvoy Gateway = "envoy"
)

type forwardRule struct {
	methods  map[string]bool // nil: any method
	segs     []pathSeg
	rest     bool // the pattern ends in /**
	resource latchkey.Resource
	access   latchkey.Access
	env      latchkey.EnvCategory
	// envHeader names a request header carrying the environment category.
	envHeader string
}

type pathSeg struct {
	literal string
	// param is the name of a {param} segment; project_id must be a positive integer.
	param string
	any   bool // *
}

// forwardRulesFile is the file format (YAML or JSON):
//
//	default: deny            # or authenticated
//	rules:
//	  - methods: [GET, HEAD]
//	    path: /api/projects/{project_id}/jobs/**
//	    resource: jobs
//	    access: read
//	  - methods: [POST]
//	    path: /api/projects/{project_id}/jobs/{job_id}/run
//	    resource: runs
//	    access: write
//	    environment_header: X-Environment-Category
type forwardRulesFile struct {
	Gateway string `yaml:"gateway" json:"gateway"`
	Default string `yaml:"default" json:"default"`
	Rules   []struct {
		Methods []string `yaml:"methods" json:"methods"`
		Path    string   `yaml:"path" json:"path"`
		// Resource and Access name the permission the route needs.
		Resource string `yaml:"resource" json:"resource"`
		Access   string `yaml:"access" json:"access"`
		// Environment (or its older name EnvironmentCategory) fixes the environment category of
		// the route.
		Environment         string `yaml:"environment" json:"environment"`
		EnvironmentCategory string `yaml:"environment_category" json:"environment_category"`
		// EnvironmentHeader names a header the gateway sets from the route (never the client's).
		EnvironmentHeader string `yaml:"environment_header" json:"environment_header"`
	} `yaml:"rules" json:"rules"`
}

// LoadForwardRules reads route rules from a JSON or YAML file.
func LoadForwardRules(path string) (*ForwardRules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("forward-auth rules: %w", err)
	}
	rules, err := ParseForwardRules(b)
	if err != nil {
		return nil, fmt.Errorf("forward-auth rules %s: %w", path, err)
	}
	return rules, nil
}

// ParseForwardRules parses the rules format (YAML, of which JSON is a subset).
func ParseForwardRules(b []byte) (*ForwardRules, error) {
	var f forwardRulesFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	out := &ForwardRules{gateway: Gateway(f.Gateway)}
	switch out.gateway {
	case "":
		out.gateway = GatewayGeneric
	case GatewayGeneric, GatewayNginx, GatewayTraefik, GatewayCaddy, GatewayEnvoy:
	default:
		return nil, fmt.Errorf("gateway must be nginx, traefik, caddy, envoy or generic, not %q", f.Gateway)
	}
	switch f.Default {
	case "", "deny":
	case "authenticated":
		out.authenticatedDefault = true
	default:
		return nil, fmt.Errorf("default must be deny or authenticated, not %q", f.Default)
	}
	for i, r := range f.Rules {
		env := r.Environment
		if r.EnvironmentCategory != "" {
			if env != "" && env != r.EnvironmentCategory {
				return nil, fmt.Errorf("rule %d (%s): environment and environment_category disagree", i+1, r.Path)
			}
			env = r.EnvironmentCategory
		}
		if r.EnvironmentHeader != "" && out.gateway == GatewayGeneric {
			return nil, fmt.Errorf("rule %d (%s): environment_header needs a gateway profile (gateway: nginx, traefik, caddy or envoy) "+
				"whose recipe in docs/gateways.md sets the header from the route, overwriting any copy a client sends; "+
				"otherwise a client could choose its own environment. Use environment: <category> for a fixed one", i+1, r.Path)
		}
		if r.EnvironmentHeader != "" && env != "" {
			return nil, fmt.Errorf("rule %d (%s): give environment or environment_header, not both", i+1, r.Path)
		}
		fr, err := compileRule(r.Methods, r.Path, r.Resource, r.Access, env, r.EnvironmentHeader)
		if err != nil {
			return nil, fmt.Errorf("rule %d (%s): %w", i+1, r.Path, err)
		}
		out.rules = append(out.rules, fr)
	}
	return out, nil
}

func compileRule(methods []string, path, resource, access, env, envHeader string) (forwardRule, error) {
	var fr forwardRule
	if !strings.HasPrefix(path, "/") {
		return fr, fmt.Errorf("path must start with /")
	}
	for _, m := range methods {
		if m == "*" {
			fr.methods = nil
			break
		}
		if fr.methods == nil {
			fr.methods = map[string]bool{}
		}
		fr.methods[strings.ToUpper(m)] = true
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	hasProject := false
	for i, p := range parts {
		switch {
		case p == "**":
			if i != len(parts)-1 {
				return fr, fmt.Errorf("** may only end a path")
			}
			fr.rest = true
		case p == "*":
			fr.segs = append(fr.segs, pathSeg{any: true})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			if name == "" {
				return fr, fmt.Errorf("empty {} in path")
			}
			hasProject = hasProject || name == "project_id"
			fr.segs = append(fr.segs, pathSeg{param: name})
		case p == "" && len(parts) == 1:
			// "/" matches only the root.
		default:
			fr.segs = append(fr.segs, pathSeg{literal: p})
		}
	}
	res, ok := latchkey.LookupResource(resource, hasProject)
	if !ok {
		return fr, fmt.Errorf("unknown resource %q", resource)
	}
	if res.Level() == latchkey.LevelProject && !hasProject {
		return fr, fmt.Errorf("resource %s is per project: the path needs a {project_id}", resource)
	}
	fr.resource = res
	if fr.access, ok = latchkey.ParseAccess(access); !ok {
		return fr, fmt.Errorf("access must be read or write")
	}
	if env != "" {
		fr.env = latchkey.EnvCategory(env)
		if !fr.env.Valid() || fr.env == latchkey.EnvAll {
			return fr, fmt.Errorf("environment must be development, staging, production or other")
		}
	}
	fr.envHeader = http.CanonicalHeaderKey(envHeader)
	return fr, nil
}

// canonicalPath returns the path of a request URI as an upstream server will see it, or ok false
// when the URI is not in canonical form: dot segments, doubled slashes, backslashes or encoded
// slashes could make latchkey check one path while the upstream serves another, so such requests
// are refused rather than matched.
func canonicalPath(uri string) (string, bool) {
	p := uri
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, '\\') >= 0 {
		return "", false
	}
	if strings.IndexByte(p, '%') >= 0 {
		lower := strings.ToLower(p)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
			return "", false
		}
		d, err := url.PathUnescape(p)
		if err != nil || strings.ContainsAny(d, "\\?#") {
			return "", false
		}
		p = d
	}
	if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		return "", false
	}
	return p, true
}

// match finds the rule for a request and the project id its path names.
func (fr *ForwardRules) match(method, path string) (*forwardRule, int64, bool) {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = strings.Trim(path, "/")
	for i := range fr.rules {
		r := &fr.rules[i]
		if r.methods != nil && !r.methods[method] {
			continue
		}
		if project, ok := r.matchPath(path); ok {
			return r, project, true
		}
	}
	return nil, 0, false
}

// matchPath walks path segment by segment without allocating.
func (r *forwardRule) matchPath(path string) (int64, bool) {
	var project int64
	rest := path
	for _, seg := range r.segs {
		if rest == "" {
			return 0, false
		}
		part := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch {
		case seg.any:
		case seg.param != "":
			if part == "" {
				return 0, false
			}
			if seg.param == "project_id" {
				// Only the canonical spelling: "+1" or "007" would be checked as project 1 or 7
				// while the upstream may read them otherwise.
				if part[0] < '1' || part[0] > '9' {
					return 0, false
				}
				id, err := strconv.ParseInt(part, 10, 64)
				if err != nil {
					return 0, false
				}
				project = id
			}
		default:
			if part != seg.literal {
				return 0, false
			}
		}
	}
	if rest != "" && !r.rest {
		return 0, false
	}
	return project, true
}

// ForwardAuthPath is where gateways ask. Envoy's HTTP ext_authz service appends the original
// path to it (path_prefix).
const ForwardAuthPath = "/v1/forward-auth"

// headerValue returns the one value of header name (canonical form: direct map access skips
// Header.Get's canonicalisation, a measurable cost per gateway request). Several different
// values make the request ambiguous: a client's copy next to the gateway's.
func headerValue(h http.Header, name string) (string, error) {
	v := h[name]
	switch {
	case len(v) == 0:
		return "", nil
	case len(v) > 1:
		for _, x := range v[1:] {
			if x != v[0] {
				return "", errAmbiguous(name)
			}
		}
	}
	return v[0], nil
}

// forwardError is a refusal of the question itself (400): the gateway's headers do not say
// unambiguously which request it asks about.
type forwardError struct{ reason, message string }

func (e *forwardError) Error() string { return e.message }

func errAmbiguous(name string) error {
	return &forwardError{"ambiguous_headers", name + " is sent more than once with different values; the gateway must overwrite a client's copy"}
}

// original returns the method and URI of the request a gateway asks about, read as the gateway
// profile says: only from headers that gateway sets. path is the request's own path (for
// Envoy's path_prefix).
func (fr *ForwardRules) original(r *http.Request) (method, uri string, err error) {
	switch fr.gateway {
	case GatewayNginx:
		return requiredPair(r.Header, "X-Original-Method", "X-Original-Uri")
	case GatewayTraefik, GatewayCaddy:
		return requiredPair(r.Header, "X-Forwarded-Method", "X-Forwarded-Uri")
	case GatewayEnvoy:
		rest, ok := strings.CutPrefix(r.URL.RequestURI(), ForwardAuthPath)
		if !ok || !strings.HasPrefix(rest, "/") {
			return "", "", &forwardError{"missing_headers", "Envoy's ext_authz HTTP service must ask at " + ForwardAuthPath + "/<original path> (path_prefix: " + ForwardAuthPath + ")"}
		}
		return r.Method, rest, nil
	}
	// generic: either convention, but never two that disagree.
	method, err = agreeing(r.Header, "X-Original-Method", "X-Forwarded-Method")
	if err != nil {
		return "", "", err
	}
	uri, err = agreeing(r.Header, "X-Original-Uri", "X-Forwarded-Uri")
	if err != nil {
		return "", "", err
	}
	if method == "" {
		method = r.Method
	}
	if uri == "" {
		uri = r.URL.RequestURI()
		if rest, ok := strings.CutPrefix(uri, ForwardAuthPath); ok && strings.HasPrefix(rest, "/") {
			uri = rest
		}
	}
	return method, uri, nil
}

// requiredPair reads the method and URI headers a gateway profile relies on; both must be there.
func requiredPair(h http.Header, methodName, uriName string) (string, string, error) {
	method, err := headerValue(h, methodName)
	if err != nil {
		return "", "", err
	}
	uri, err := headerValue(h, uriName)
	if err != nil {
		return "", "", err
	}
	if method == "" || uri == "" {
		return "", "", &forwardError{"missing_headers", "the gateway must send " + methodName + " and " + uriName + " (see its recipe in docs/gateways.md)"}
	}
	return method, uri, nil
}

// agreeing reads two headers that mean the same thing and refuses them when they differ: a
// client may have sent one the gateway does not overwrite.
func agreeing(h http.Header, a, b string) (string, error) {
	va, err := headerValue(h, a)
	if err != nil {
		return "", err
	}
	vb, err := headerValue(h, b)
	if err != nil {
		return "", err
	}
	if va != "" && vb != "" && va != vb {
		return "", &forwardError{"conflicting_headers", a + " and " + b + " disagree; name the gateway in the rules file (gateway: nginx, traefik, caddy or envoy) so latchkey reads only the headers it sets"}
	}
	if va != "" {
		return va, nil
	}
	return vb, nil
}

// gatewayAllowed checks who is asking: with a shared secret configured, the gateway must send
// it; without one, only loopback peers may ask.
func (s *Server) gatewayAllowed(r *http.Request, peer netip.Addr) bool {
	if s.cfg.ForwardAuthSecret != "" {
		got := r.Header.Get("X-Latchkey-Forward-Secret")
		return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.ForwardAuthSecret)) == 1
	}
	return peer.IsLoopback()
}

// forwardAsk is one gateway question: the original request's method, URI and headers, the
// credential it carries and the client's address.
type forwardAsk struct {
	method, uri   string
	authorization string
	header        http.Header
	ip            netip.Addr
}

// forwardAnswer is latchkey's answer to a gateway: an HTTP status (200, 401, 403, 429 or 500),
// a short reason code and message, and on 200 the principal.
type forwardAnswer struct {
	status     int
	reason     string
	message    string
	retryAfter string
	principal  *latchkey.Principal
	// policy and limits are the RateLimit-Policy and RateLimit header values of a token with
	// rate limits ("" otherwise).
	policy, limits string
}

// answerForward verifies the credential and checks the permission the rules give the request.
// The HTTP endpoint and Envoy's gRPC ext_authz both answer with it.
func (s *Server) answerForward(ctx context.Context, q forwardAsk) forwardAnswer {
	tok, ok, err := bearerValue(q.authorization)
	if err == nil && !ok {
		err = verify.ErrMissing
	}
	var p *latchkey.Principal
	var lim verify.Limits
	if err == nil {
		// Successes are counted once, in latchkey_forward_auth_requests_total: a second shared
		// counter per request costs measurable throughput on busy gateways.
		p, err = s.verifyToken(ctx, tok, q.ip, 0, verify.Usage{}, &lim)
	}
	a := forwardAnswer{}
	if lim.N > 0 {
		var buf [256]byte
		a.policy, a.limits = lim.Policy(), string(lim.AppendRateLimit(buf[:0]))
	}
	if err != nil {
		status, le := errorStatus(err, "")
		a.status, a.reason, a.message = status, verify.Reason(err), le.Message
		if ra, ok := le.Data["retry_after_seconds"]; ok {
			a.retryAfter = fmt.Sprint(ra)
		}
		if status >= http.StatusInternalServerError {
			// Forward-auth answers carry no request id (the gateway has its own); this log
			// line, one per failed request, is where the cause is kept.
			if status == http.StatusInternalServerError {
				a.message = "the token could not be verified: internal error"
			}
			s.log.Error("forward-auth", "status", status, "reason", a.reason, "error", err.Error())
		}
		return a
	}
	path, canonical := canonicalPath(q.uri)
	if !canonical {
		a.status, a.reason, a.message = http.StatusForbidden, "non_canonical_path",
			"the request path is not in canonical form (dot segments, doubled or encoded slashes)"
		return a
	}
	rules := s.cfg.ForwardAuth
	rule, project, found := rules.match(q.method, path)
	if !found && !rules.authenticatedDefault {
		a.status, a.reason, a.message = http.StatusForbidden, "no_rule", "no forward-auth rule matches "+sanitizePath(q.method)+" "+sanitizePath(q.uri)
		return a
	}
	if found {
		env := rule.env
		if rule.envHeader != "" {
			v, err := headerValue(q.header, rule.envHeader)
			if err != nil {
				a.status, a.reason, a.message = http.StatusBadRequest, "ambiguous_headers", err.Error()
				return a
			}
			if env = latchkey.EnvCategory(v); env != "" && (!env.Valid() || env == latchkey.EnvAll) {
				env = ""
			}
		}
		if d := p.Can(rule.resource, rule.access, project, env); !d.Allowed {
			s.verify.CountForbidden(p)
			a.status, a.reason, a.message = http.StatusForbidden, "forbidden", d.Reason()
			return a
		}
	}
	a.status, a.reason, a.principal = http.StatusOK, "ok", p
	return a
}

// handleForwardAuth answers nginx auth_request, Traefik ForwardAuth, Caddy forward_auth and
// Envoy ext_authz (HTTP): 200 with identity headers, 400 when the gateway's headers are
// missing, ambiguous or contradictory, 401 without a valid token, 403 without the permission. It
// is served outside the general middleware (gateways call it for every request they proxy:
// outcomes are counted in metrics and denials logged at debug level) and never echoes the token.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	rules := s.cfg.ForwardAuth
	if rules == nil {
		s.metrics.forward(http.StatusNotFound)
		http.Error(w, "forward-auth is not configured (start serve with --forward-auth-rules)", http.StatusNotFound)
		return
	}
	peer := peerAddr(r)
	if !s.gatewayAllowed(r, peer) {
		s.metrics.forward(http.StatusForbidden)
		http.Error(w, "forward-auth: this gateway is not allowed to ask", http.StatusForbidden)
		return
	}
	var a forwardAnswer
	ip, err := s.clientIPFrom(r, peer)
	q := forwardAsk{header: r.Header, ip: ip}
	if err == nil {
		q.method, q.uri, err = rules.original(r)
	}
	if err == nil {
		q.authorization, err = headerValue(r.Header, "Authorization")
	}
	if err != nil {
		a = forwardAnswer{status: http.StatusBadRequest, reason: "bad_request", message: err.Error()}
		var fe *forwardError
		if errors.As(err, &fe) {
			a.reason = fe.reason
		}
		if le, ok := err.(*latchkey.Error); ok {
			a.message = le.Message
			if reason, ok := le.Data["reason"].(string); ok {
				a.reason = reason
			}
		}
	} else {
		a = s.answerForward(r.Context(), q)
	}
	h := w.Header()
	s.metrics.forward(a.status)
	if a.policy != "" {
		vs := []string{a.policy, a.limits}
		h["Ratelimit-Policy"], h["Ratelimit"] = vs[0:1:1], vs[1:2:2]
	}
	if a.status == http.StatusOK {
		// Header keys are already canonical: assigning skips canonicalisation.
		h["X-Latchkey-Account-Id"], h["X-Latchkey-Principal"] = a.principal.IdentityValues()
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Token realm="latchkey"`)
	}
	if a.retryAfter != "" { // 429, and 503 while storage cannot answer
		h.Set("Retry-After", a.retryAfter)
	}
	h.Set("X-Latchkey-Reason", a.reason)
	s.debugDenial(r, a.status, a.reason)
	http.Error(w, a.message, a.status)
}

// sanitizePath keeps a path printable and short for an error body.
func sanitizePath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, p)
}

func (s *Server) debugDenial(r *http.Request, status int, reason string) {
	if s.log.Enabled(r.Context(), -4) {
		s.log.Debug("forward-auth denied", "status", status, "reason", reason, "peer", addrString(peerAddr(r)))
	}
}
