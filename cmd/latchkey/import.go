package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/tokenfmt"
)

// importRecord is one line of an import file.
type importRecord struct {
	AccountID *int64  `json:"account_id"`
	Account   *string `json:"account"`
	Name      *string `json:"name"`
	// Token is the legacy token itself (40 lowercase hex characters); it is bcrypt-hashed here.
	Token *string `json:"token"`
	// TokenBcrypt and TokenPrefix are the stored form of a legacy token: its bcrypt hash and its
	// first 8 characters.
	TokenBcrypt      *string       `json:"token_bcrypt"`
	TokenPrefix      *string       `json:"token_prefix"`
	PermissionGrants []importGrant `json:"permission_grants"`
	CreatedAt        *string       `json:"created_at"`
}

type importGrant struct {
	PermissionSet                 string   `json:"permission_set"`
	ProjectID                     *int64   `json:"project_id"`
	AllProjects                   *bool    `json:"all_projects"`
	WritableEnvironmentCategories []string `json:"writable_environment_categories"`
}

// MaxImportLine bounds one line of an import file.
const MaxImportLine = 64 << 10

func importCmd(e *env) *cobra.Command {
	var db, file string
	var cost, batch int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import legacy (40-hex) tokens from a JSON-lines file",
		Long: `import brings service tokens minted by an older system into latchkey. Each line of --file is a
JSON object:

  {"account_id": 1, "name": "airflow (old)", "token": "<40 lowercase hex>",
   "permission_grants": [{"permission_set": "job_admin", "project_id": 3},
                         {"permission_set": "metadata_only", "all_projects": true}],
   "created_at": "2023-04-01T00:00:00Z"}

or, when only the old system's stored form is available, "token_bcrypt" (its bcrypt hash) and
"token_prefix" (its first 8 characters) instead of "token". "account" (the account's name) may
replace "account_id". Each grant names its scope: "all_projects": true, or the "project_id" of a
project of the account; a grant with neither is refused, never widened.

Imported tokens keep working. They verify through the slow path (bcrypt, then cached briefly),
are marked "legacy format – rotate for lower latency" in lists and the UI, and are counted in
metrics. Bad lines are reported with their line numbers and skipped; everything else is imported,
in transactions of --batch tokens. The exit status is non-zero when any line was skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("--file is required")
			}
			if cost < bcrypt.MinCost || cost > 14 {
				return fmt.Errorf("--bcrypt-cost must be between %d and 14", bcrypt.MinCost)
			}
			s, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer s.Close()
			return importFile(cmd.Context(), e, s, file, cost, max(batch, 1), dryRun)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&db, "db", "./latchkey.db", "SQLite file or postgres:// URL")
	fl.StringVar(&file, "file", "", "JSON-lines file of tokens (- for standard input)")
	fl.IntVar(&cost, "bcrypt-cost", bcrypt.DefaultCost, "bcrypt cost for tokens given in plain text")
	fl.IntVar(&batch, "batch", 500, "tokens per transaction")
	fl.BoolVar(&dryRun, "dry-run", false, "validate every line and import nothing")
	return cmd
}

// importer validates records against the store, caching accounts; tokens are checked and
// stored by the admin layer.
type importer struct {
	s        latchkey.Store
	admin    *admin.Service
	accounts map[string]*latchkey.Account
	seen     map[string]int // token or bcrypt hash -> first line
}

func importFile(ctx context.Context, e *env, s latchkey.Store, file string, cost, batch int, dryRun bool) error {
	var r io.Reader
	var total int64 = -1
	if file == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			total = st.Size()
		}
		r = f
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	im := &importer{s: s, admin: admin.New(s, tokenfmt.Default), accounts: map[string]*latchkey.Account{}, seen: map[string]int{}}

	sc := bufio.NewScanner(io.TeeReader(r, bar))
	sc.Buffer(make([]byte, 0, 64<<10), MaxImportLine)
	var pending []*pendingToken
	var bad, imported int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		toks, err := hashPending(pending, cost)
		if err != nil {
			return err
		}
		if !dryRun {
			if err := im.admin.ImportTokens(ctx, toks); err != nil {
				return fmt.Errorf("import lines %d-%d: %w", pending[0].line, pending[len(pending)-1].line, err)
			}
			imported += len(toks)
		}
		pending = pending[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		pt, err := im.parse(ctx, line, []byte(text))
		if err != nil {
			bad++
			fmt.Fprintf(e.stderr, "\nline %d: %v\n", line, err)
			continue
		}
		pending = append(pending, pt)
		if len(pending) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes; is this a JSON-lines file?", MaxImportLine)
		}
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	_ = bar.Finish()
	if dryRun {
		fmt.Fprintf(e.stdout, "dry run: %d lines valid, %d bad; nothing imported\n", len(im.seen), bad)
	} else {
		fmt.Fprintf(e.stdout, "imported %d legacy tokens; %d bad lines skipped\n", imported, bad)
	}
	if bad > 0 {
		return fmt.Errorf("%d lines were not imported (see above)", bad)
	}
	return nil
}

// pendingToken is a validated record waiting for its batch.
type pendingToken struct {
	line  int
	tok   *latchkey.Token
	plain string // a plain-text legacy token still to be bcrypt-hashed
}

// parse validates one line. Errors name fields, never values: a line holds a secret.
func (im *importer) parse(ctx context.Context, line int, raw []byte) (*pendingToken, error) {
	var rec importRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("field %s has the wrong type", te.Field)
		}
		return nil, fmt.Errorf("not a JSON object")
	}
	a, err := im.account(ctx, rec)
	if err != nil {
		return nil, err
	}
	if rec.Name == nil {
		return nil, fmt.Errorf("name is required")
	}
	tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, Name: *rec.Name, CreatedBy: "system:import"}
	pt := &pendingToken{line: line, tok: tok}
	var key string
	switch {
	case rec.Token != nil && rec.TokenBcrypt != nil:
		return nil, fmt.Errorf("give token or token_bcrypt, not both")
	case rec.Token != nil:
		if !tokenfmt.IsLegacy(*rec.Token) {
			return nil, fmt.Errorf("token is not a legacy token (40 lowercase hex characters)")
		}
		pt.plain, key = *rec.Token, *rec.Token
		tok.LegacyPrefix = tokenfmt.LegacyPrefix(*rec.Token)
	case rec.TokenBcrypt != nil:
		if _, err := bcrypt.Cost([]byte(*rec.TokenBcrypt)); err != nil {
			return nil, fmt.Errorf("token_bcrypt is not a bcrypt hash")
		}
		if rec.TokenPrefix == nil || len(*rec.TokenPrefix) != tokenfmt.LegacyPrefixLen || !tokenfmt.IsLegacy(*rec.TokenPrefix+strings.Repeat("0", tokenfmt.LegacyLen-tokenfmt.LegacyPrefixLen)) {
			return nil, fmt.Errorf("token_prefix (the token's first 8 characters, lowercase hex) is required with token_bcrypt")
		}
		tok.LegacyHash, tok.LegacyPrefix, key = *rec.TokenBcrypt, *rec.TokenPrefix, *rec.TokenBcrypt
	default:
		return nil, fmt.Errorf("token or token_bcrypt is required")
	}
	if first, dup := im.seen[key]; dup {
		return nil, fmt.Errorf("the same token is on line %d", first)
	}
	if rec.CreatedAt != nil {
		t, err := time.Parse(time.RFC3339, *rec.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("created_at must be an RFC 3339 time")
		}
		if t.After(time.Now().Add(time.Minute)) {
			return nil, fmt.Errorf("created_at is in the future")
		}
		tok.CreatedAt = t.UTC().Truncate(time.Microsecond)
	}
	for _, g := range rec.PermissionGrants {
		grant := latchkey.Grant{PermissionSet: g.PermissionSet, AllProjects: g.AllProjects != nil && *g.AllProjects}
		if g.ProjectID != nil {
			grant.ProjectID = *g.ProjectID
		}
		for _, c := range g.WritableEnvironmentCategories {
			grant.WritableEnvs = append(grant.WritableEnvs, latchkey.EnvCategory(c))
		}
		tok.Grants = append(tok.Grants, grant)
	}
	if err := im.admin.CheckImportedToken(ctx, a, tok); err != nil {
		if latchkey.SystemError(err) {
			return nil, err
		}
		return nil, errors.New(latchkey.ErrorMessage(err))
	}
	if err := im.checkExisting(ctx, tok, pt.plain); err != nil {
		return nil, err
	}
	uid, _, err := tokenfmt.Default.Generate(latchkey.KindServiceToken)
	if err != nil {
		return nil, err
	}
	// Legacy tokens carry no uid; give each a unique public one for lists ("L" + 7 base62).
	tok.UID = "L" + uid[len(tokenfmt.Default.ServicePrefix)+1:len(tokenfmt.Default.ServicePrefix)+tokenfmt.UIDLen]
	im.seen[key] = line
	return pt, nil
}

// checkExisting refuses a token that is already imported (a re-run of the same file).
func (im *importer) checkExisting(ctx context.Context, tok *latchkey.Token, plain string) error {
	prefix := tok.LegacyPrefix
	existing, _, err := im.s.FindTokens(ctx, latchkey.TokenFilter{LegacyPrefix: &prefix, Limit: latchkey.MaxLimit})
	if err != nil {
		return err
	}
	for _, t := range existing {
		if t.LegacyHash == tok.LegacyHash && tok.LegacyHash != "" ||
			plain != "" && bcrypt.CompareHashAndPassword([]byte(t.LegacyHash), []byte(plain)) == nil {
			return fmt.Errorf("this token was already imported (token %d)", t.ID)
		}
	}
	return nil
}

func (im *importer) account(ctx context.Context, rec importRecord) (*latchkey.Account, error) {
	var key string
	switch {
	case rec.AccountID != nil:
		key = fmt.Sprint("#", *rec.AccountID)
	case rec.Account != nil:
		key = *rec.Account
	default:
		return nil, fmt.Errorf("account_id (or account, the account's name) is required")
	}
	if a, ok := im.accounts[key]; ok {
		if a == nil {
			return nil, fmt.Errorf("account %s does not exist", strings.TrimPrefix(key, "#"))
		}
		return a, nil
	}
	var found *latchkey.Account
	if rec.AccountID != nil {
		if a, err := im.s.FindAccountByID(ctx, *rec.AccountID); err == nil && a.State == latchkey.StateActive {
			found = a
		}
	} else {
		for offset := 0; found == nil; offset += latchkey.MaxLimit {
			as, total, err := im.s.FindAccounts(ctx, latchkey.AccountFilter{Offset: offset, Limit: latchkey.MaxLimit})
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				if a.Name == *rec.Account && a.State == latchkey.StateActive {
					if found != nil {
						return nil, fmt.Errorf("several accounts are named %q; use account_id", *rec.Account)
					}
					found = a
				}
			}
			if offset+len(as) >= total {
				break
			}
		}
	}
	im.accounts[key] = found
	if found == nil {
		return nil, fmt.Errorf("account %s does not exist", strings.TrimPrefix(key, "#"))
	}
	return found, nil
}

// hashPending bcrypt-hashes plain-text tokens on every core and returns the batch's tokens.
func hashPending(pending []*pendingToken, cost int) ([]*latchkey.Token, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(pending))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, pt := range pending {
		if pt.plain == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h, err := bcrypt.GenerateFromPassword([]byte(pt.plain), cost)
			pt.tok.LegacyHash, errs[i] = string(h), err
		}()
	}
	wg.Wait()
	toks := make([]*latchkey.Token, len(pending))
	for i, pt := range pending {
		if errs[i] != nil {
			return nil, fmt.Errorf("line %d: hash token: %w", pt.line, errs[i])
		}
		toks[i] = pt.tok
	}
	return toks, nil
}
