package server

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

const testRules = `
default: deny
rules:
  - methods: [get, HEAD]
    path: /api/projects/{project_id}/jobs/**
    resource: jobs
    access: read
  - methods: [POST]
    path: /api/projects/{project_id}/jobs/{job_id}/run
    resource: runs
    access: write
    environment_category: production
  - methods: ["*"]
    path: /api/*/status
    resource: account_settings
    access: read
  - path: /
    resource: public_models
    access: read
`

func TestForwardRulesMatch(t *testing.T) {
	fr, err := ParseForwardRules([]byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		found        bool
		res          latchkey.Resource
		project      int64
	}{
		{"GET", "/api/projects/7/jobs", true, latchkey.ResJobs, 7},
		{"GET", "/api/projects/7/jobs/", true, latchkey.ResJobs, 7},
		{"HEAD", "/api/projects/7/jobs/1/2/3?q=1", true, latchkey.ResJobs, 7},
		{"POST", "/api/projects/7/jobs", false, 0, 0},
		{"GET", "/api/projects/x/jobs", false, 0, 0},
		{"GET", "/api/projects/-1/jobs", false, 0, 0},
		{"GET", "/api/projects/0/jobs", false, 0, 0},
		{"GET", "/api/projects/+7/jobs", false, 0, 0},
		{"GET", "/api/projects/007/jobs", false, 0, 0},
		{"POST", "/api/projects/9/jobs/4/run", true, latchkey.ResRuns, 9},
		{"POST", "/api/projects/9/jobs/4/run/extra", false, 0, 0},
		{"DELETE", "/api/anything/status", true, latchkey.ResAccountSettings, 0},
		{"GET", "/api/a/b/status", false, 0, 0},
		{"GET", "/", true, latchkey.ResPublicModels, 0},
		{"GET", "/other", false, 0, 0},
	}
	for _, tt := range tests {
		r, project, found := fr.match(tt.method, tt.path)
		if found != tt.found {
			t.Errorf("match(%s %s) found = %v, want %v", tt.method, tt.path, found, tt.found)
			continue
		}
		if found && (r.resource != tt.res || project != tt.project) {
			t.Errorf("match(%s %s) = %s on %d, want %s on %d", tt.method, tt.path, r.resource, project, tt.res, tt.project)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		uri, want string
		ok        bool
	}{
		{"/api/projects/1/jobs/7?x=1", "/api/projects/1/jobs/7", true},
		{"/api/projects/1/jobs/", "/api/projects/1/jobs/", true},
		{"/api/%70rojects/1/jobs", "/api/projects/1/jobs", true},
		{"/", "/", true},
		{"/api/projects/1/jobs/../../2/jobs/x", "", false},
		{"/api/projects/1/jobs/%2e%2e/%2e%2e/2/jobs/x", "", false},
		{"/api/projects/1/jobs/..", "", false},
		{"/api/./projects/2/jobs", "", false},
		{"//api/projects/2/jobs", "", false},
		{"/api/projects/1%2F..%2F2/jobs", "", false},
		{"/api/projects\\2/jobs", "", false},
		{"/api/projects/%zz", "", false},
		{"api/projects/1", "", false},
		{"/api/projects/1%00/jobs", "", false},
	}
	for _, tt := range tests {
		got, ok := canonicalPath(tt.uri)
		if got != tt.want || ok != tt.ok {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q, %v", tt.uri, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseForwardRulesErrors(t *testing.T) {
	tests := []struct{ rules, want string }{
		{`rules: [{path: "/x/{project_id}", resource: nope, access: read}]`, "unknown resource"},
		{`rules: [{path: /x, resource: jobs, access: read}]`, "needs a {project_id}"},
		{`rules: [{path: x, resource: billing, access: read}]`, "must start with /"},
		{`rules: [{path: /x/**/y, resource: billing, access: read}]`, "** may only end"},
		{`rules: [{path: /x, resource: billing, access: admin}]`, "access must be"},
		{`default: maybe`, "default must be"},
		{`rules: [{path: /x, resource: billing, access: read, colour: red}]`, "colour"},
		{`{"rules": [{"path": "/{project_id}", "resource": "jobs", "access": "write", "environment_category": "qa"}]}`, "environment must be"},
	}
	for _, tt := range tests {
		_, err := ParseForwardRules([]byte(tt.rules))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseForwardRules(%s) = %v, want an error containing %q", tt.rules, err, tt.want)
		}
	}
}

// FuzzForwardMatch feeds arbitrary methods and URIs (gateway-supplied headers) to the matcher.
func FuzzForwardMatch(f *testing.F) {
	fr, err := ParseForwardRules([]byte(testRules))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/api/projects/7/jobs", "/", "//", "/api/projects/99999999999999999999/jobs", "/api/x/status?#", "\x00/\xff"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		if p, ok := canonicalPath(uri); ok {
			if strings.Contains(p, "/../") || strings.Contains(p, "//") || strings.HasSuffix(p, "/..") {
				t.Fatalf("canonicalPath(%q) = %q, not canonical", uri, p)
			}
		}
		r, project, found := fr.match(method, uri)
		if found && r == nil || project < 0 || !found && project != 0 {
			t.Fatalf("match(%q, %q) = %v, %d, %v", method, uri, r, project, found)
		}
		if found && r.resource.Level() == latchkey.LevelProject && project == 0 {
			t.Fatalf("match(%q, %q) chose a project rule without a project", method, uri)
		}
	})
}
