package server

import (
	"crypto/subtle"
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
}

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
	Default string `yaml:"default" json:"default"`
	Rules   []struct {
		Methods             []string `yaml:"methods" json:"methods"`
		Path                string   `yaml:"path" json:"path"`
		Resource            string   `yaml:"resource" json:"resource"`
		Access              string   `yaml:"access" json:"access"`
		EnvironmentCategory string   `yaml:"environment_category" json:"environment_category"`
		EnvironmentHeader   string   `yaml:"environment_header" json:"environment_header"`
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
	out := &ForwardRules{}
	switch f.Default {
	case "", "deny":
	case "authenticated":
		out.authenticatedDefault = true
	default:
		return nil, fmt.Errorf("default must be deny or authenticated, not %q", f.Default)
	}
	for i, r := range f.Rules {
		fr, err := compileRule(r.Methods, r.Path, r.Resource, r.Access, r.EnvironmentCategory, r.EnvironmentHeader)
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
			return fr, fmt.Errorf("environment_category must be development, staging, production or other")
		}
	}
	fr.envHeader = envHeader
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
				id, err := strconv.ParseInt(part, 10, 64)
				if err != nil || id <= 0 {
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

// forwardHeader returns the first non-empty header among names, which must be in canonical form
// (direct map access skips Header.Get's canonicalisation, a measurable cost per gateway request).
func forwardHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header[n]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
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

// handleForwardAuth answers nginx auth_request, Traefik ForwardAuth and Envoy ext_authz (HTTP):
// 200 with identity headers, 401 without a valid token, 403 without the permission. It is
// served outside the general middleware (gateways call it for every request they proxy: outcomes
// are counted in metrics and denials logged at debug level) and never echoes the token.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ForwardAuth == nil {
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
	ip := s.clientIPFrom(r, peer)
	h := w.Header()
	tok, ok, err := bearerValue(forwardHeader(r, "Authorization"))
	if err == nil && !ok {
		err = verify.ErrMissing
	}
	var p *latchkey.Principal
	if err == nil {
		if err = s.authLimited(r.Context(), ip); err == nil {
			// Successes are counted once, in latchkey_forward_auth_requests_total: a second
			// shared counter per request costs measurable throughput on busy gateways.
			p, err = s.verify.Verify(r.Context(), tok, ip)
			if err != nil {
				s.metrics.verification(err)
				s.noteAuthFailure(r, ip, err)
			}
		}
	}
	if err != nil {
		status, le := errorStatus(err, "")
		switch status {
		case http.StatusInternalServerError:
			s.log.Error("forward-auth", "error", err.Error())
		case http.StatusUnauthorized:
			h.Set("WWW-Authenticate", `Token realm="latchkey"`)
		case http.StatusTooManyRequests:
			if ra, ok := le.Data["retry_after_seconds"]; ok {
				h.Set("Retry-After", fmt.Sprint(ra))
			}
		}
		h.Set("X-Latchkey-Reason", verify.Reason(err))
		s.metrics.forward(status)
		s.debugDenial(r, status, verify.Reason(err))
		http.Error(w, le.Message, status)
		return
	}
	method := forwardHeader(r, "X-Original-Method", "X-Forwarded-Method")
	if method == "" {
		method = r.Method
	}
	uri := forwardHeader(r, "X-Original-Uri", "X-Forwarded-Uri")
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	path, canonical := canonicalPath(uri)
	if !canonical {
		h.Set("X-Latchkey-Reason", "non_canonical_path")
		s.metrics.forward(http.StatusForbidden)
		s.debugDenial(r, http.StatusForbidden, "non_canonical_path")
		http.Error(w, "the request path is not in canonical form (dot segments, doubled or encoded slashes)", http.StatusForbidden)
		return
	}
	rule, project, found := s.cfg.ForwardAuth.match(method, path)
	if !found && !s.cfg.ForwardAuth.authenticatedDefault {
		h.Set("X-Latchkey-Reason", "no_rule")
		s.metrics.forward(http.StatusForbidden)
		s.debugDenial(r, http.StatusForbidden, "no_rule")
		http.Error(w, "no forward-auth rule matches "+method+" "+sanitizePath(uri), http.StatusForbidden)
		return
	}
	if found {
		env := rule.env
		if rule.envHeader != "" {
			env = latchkey.EnvCategory(r.Header.Get(rule.envHeader))
			if env != "" && !env.Valid() {
				env = ""
			}
		}
		if d := p.Can(rule.resource, rule.access, project, env); !d.Allowed {
			h.Set("X-Latchkey-Reason", "forbidden")
			s.metrics.forward(http.StatusForbidden)
			s.debugDenial(r, http.StatusForbidden, "forbidden")
			http.Error(w, d.Reason(), http.StatusForbidden)
			return
		}
	}
	// Header keys are already canonical: assigning skips canonicalisation.
	h["X-Latchkey-Account-Id"], h["X-Latchkey-Principal"] = p.IdentityValues()
	s.metrics.forward(http.StatusOK)
	w.WriteHeader(http.StatusOK)
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
		s.log.Debug("forward-auth denied", "status", status, "reason", reason, "client_ip", addrString(s.clientIP(r)))
	}
}
