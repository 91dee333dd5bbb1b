package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Leaked-token reports from GitHub secret scanning (the partner program): GitHub posts a JSON
// array of matches, signed with ECDSA P-256 / SHA-256 over the raw body; latchkey revokes (or
// flags) each of its tokens named and answers with a label per match.

// LeakMatch is one match in a GitHub secret-scanning report.
type LeakMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// LeakLabel is latchkey's answer for one match, in the feedback shape GitHub accepts. The
// token is identified by its SHA-256 (token_hash) so that no endpoint ever returns a token.
type LeakLabel struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Limits of a leak report.
const (
	MaxLeakMatches   = 1000
	maxLeakFieldSize = 4096
)

// DecodeLeakReport parses a report body: a JSON array of {token, type, url, source} objects.
// Unknown members are ignored; every member present must be a string.
func DecodeLeakReport(body []byte) ([]LeakMatch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw []json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, latchkey.Errorf(latchkey.EInvalid, "leak report must be a JSON array of {token, type, url, source}")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, latchkey.Errorf(latchkey.EInvalid, "leak report must hold a single JSON array")
	}
	if len(raw) > MaxLeakMatches {
		return nil, latchkey.Errorf(latchkey.EInvalid, "leak report holds %d matches; at most %d are accepted per request", len(raw), MaxLeakMatches)
	}
	out := make([]LeakMatch, 0, len(raw))
	for i, r := range raw {
		var m LeakMatch
		if err := json.Unmarshal(r, &m); err != nil || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			return nil, latchkey.Errorf(latchkey.EInvalid, "leak report match %d must be an object of strings", i)
		}
		if m.Token == "" {
			return nil, latchkey.Errorf(latchkey.EInvalid, "leak report match %d has no token", i)
		}
		if len(m.Token) > maxLeakFieldSize || len(m.Type) > maxLeakFieldSize || len(m.URL) > maxLeakFieldSize || len(m.Source) > maxLeakFieldSize {
			return nil, latchkey.Errorf(latchkey.EInvalid, "leak report match %d has a field longer than %d bytes", i, maxLeakFieldSize)
		}
		out = append(out, m)
	}
	return out, nil
}

// errLeakSignature refuses a report whose signature is missing or does not verify.
var errLeakSignature = &latchkey.Error{Code: latchkey.EUnauthorized,
	Message: "leak report signature is missing or invalid (Github-Public-Key-Identifier, Github-Public-Key-Signature)"}

// VerifyLeakSignature checks sig (base64 of an ASN.1 ECDSA signature) over body with the key
// named keyID.
func VerifyLeakSignature(keys map[string]*ecdsa.PublicKey, keyID, sig string, body []byte) error {
	key := keys[strings.TrimSpace(keyID)]
	if key == nil || sig == "" {
		return errLeakSignature
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return errLeakSignature
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], der) {
		return errLeakSignature
	}
	return nil
}

// ParseGitHubKeys reads secret-scanning public keys. Accepted forms: GitHub's own
// api.github.com/meta/public_keys/secret_scanning response ({"public_keys": [{"key_identifier",
// "key"}]}), a JSON object mapping identifiers to PEM keys, or PEM blocks each with a
// "Key-Identifier" header (without one, the identifier is the hex SHA-256 of the key's DER).
// Every key must be ECDSA P-256.
func ParseGitHubKeys(data []byte) (map[string]*ecdsa.PublicKey, error) {
	keys := map[string]*ecdsa.PublicKey{}
	add := func(id string, pemText []byte) error {
		block, _ := pem.Decode(pemText)
		if block == nil {
			return fmt.Errorf("key %q: not PEM", id)
		}
		return addKey(keys, id, block)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		var gh struct {
			PublicKeys []struct {
				KeyIdentifier string `json:"key_identifier"`
				Key           string `json:"key"`
			} `json:"public_keys"`
		}
		if err := json.Unmarshal(trimmed, &gh); err == nil && gh.PublicKeys != nil {
			for _, k := range gh.PublicKeys {
				if err := add(k.KeyIdentifier, []byte(k.Key)); err != nil {
					return nil, err
				}
			}
			break
		}
		var m map[string]string
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("keys file: want GitHub's public_keys JSON, an object of identifier to PEM key, or PEM blocks")
		}
		for id, k := range m {
			if err := add(id, []byte(k)); err != nil {
				return nil, err
			}
		}
	default:
		rest := trimmed
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			id := block.Headers["Key-Identifier"]
			if id == "" {
				sum := sha256.Sum256(block.Bytes)
				id = hex.EncodeToString(sum[:])
			}
			if err := addKey(keys, id, block); err != nil {
				return nil, err
			}
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("keys file: unreadable content after the PEM blocks")
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keys file holds no keys")
	}
	return keys, nil
}

func addKey(keys map[string]*ecdsa.PublicKey, id string, block *pem.Block) error {
	if id == "" {
		return fmt.Errorf("a key has no identifier")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("key %q: %w", id, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return fmt.Errorf("key %q: want an ECDSA P-256 public key", id)
	}
	keys[id] = ec
	return nil
}

// LoadGitHubKeys reads ParseGitHubKeys's formats from a file.
func LoadGitHubKeys(path string) (map[string]*ecdsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read GitHub keys: %w", err)
	}
	keys, err := ParseGitHubKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// handleLeakReportGitHub receives a GitHub secret-scanning report. The signature is checked
// over the raw body before anything else; then each match that is a latchkey token is revoked
// (or flagged, per the account's leak_action) and audited as leak.reported with where it was
// found. The answer labels each match true_positive (a token latchkey issued) or
// false_positive, as GitHub's feedback format has it.
func (s *Server) handleLeakReportGitHub(w http.ResponseWriter, r *http.Request) error {
	gv := s.gov()
	if len(s.cfg.Governance.GitHubKeys) == 0 {
		return latchkey.Errorf(latchkey.EUnavailable, "leak reports are not configured on this server (start it with --github-keys-file)")
	}
	ip := state(r.Context()).ip
	if d := gv.tokenLimits.wait(ip, time.Now()); d > 0 {
		gv.metrics.rateLimited.WithLabelValues("leak_signature").Inc()
		return rateLimited("leak report signatures", d)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if err := VerifyLeakSignature(s.cfg.Governance.GitHubKeys, r.Header.Get("Github-Public-Key-Identifier"),
		r.Header.Get("Github-Public-Key-Signature"), body); err != nil {
		gv.metrics.authFailures.WithLabelValues("leak_signature", "bad_signature").Inc()
		gv.tokenLimits.fail(ip, time.Now())
		return err
	}
	matches, err := DecodeLeakReport(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := make([]LeakLabel, len(matches))
	for i, m := range matches {
		h := tokenfmt.Hash(m.Token)
		label := "false_positive"
		tok, err := s.leakedToken(ctx, m.Token, h)
		if err != nil {
			return err
		}
		if tok != nil {
			label = "true_positive"
			leak := admin.Leak{Reporter: "github", ReporterName: "github secret scanning", IP: addrString(ip),
				URL: m.URL, Source: m.Source, Type: m.Type}
			if _, err := s.admin.ReportLeak(ctx, tok, leak); err != nil {
				return err
			}
		}
		gv.metrics.leakReports.WithLabelValues(label).Inc()
		out[i] = LeakLabel{TokenHash: hex.EncodeToString(h[:]), TokenType: m.Type, Label: label}
	}
	writeJSONBody(w, http.StatusOK, out)
	return nil
}

// leakedToken finds the token a reported string is, or nil when latchkey did not issue it.
func (s *Server) leakedToken(ctx context.Context, token string, h [32]byte) (*latchkey.Token, error) {
	parsed, err := s.format.Parse(token)
	if err != nil {
		return nil, nil
	}
	if parsed.Legacy {
		prefix := tokenfmt.LegacyPrefix(token)
		toks, _, err := s.store.FindTokens(ctx, latchkey.TokenFilter{LegacyPrefix: &prefix, Limit: latchkey.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			if bcrypt.CompareHashAndPassword([]byte(t.LegacyHash), []byte(token)) == nil {
				return t, nil
			}
		}
		return nil, nil
	}
	tok, err := s.store.FindTokenByHash(ctx, h[:])
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, nil
	}
	return tok, err
}
