//go:build linux || darwin

package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

var recoveryReport = flag.Bool("sqlite.recovery-report", false,
	"TestReadOnlyRecovery measures, over several 3 s read-only moments under load, how soon writes succeed again (slow; figures for bench/README.md)")

// childDirEnv names, for a test re-run as an unprivileged user, the directory it may write.
const childDirEnv = "LATCHKEY_SQLITE_TEST_DIR"

// nobody is the user file-permission tests run as.
const nobody = 65534

// asUnprivileged runs body where file permissions apply, with a directory body may write. Root
// ignores permissions, and tests run as root in CI, so as root it re-runs this test as user
// nobody, from a copy of the test binary that user can read, and fails with the child's output
// if the child did not pass; as anyone else it runs body here.
func asUnprivileged(t *testing.T, body func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(childDirEnv); dir != "" {
		body(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		body(t, t.TempDir())
		return
	}
	dir, err := os.MkdirTemp("", "latchkey-sqlite-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sqlite.test")
	copyExecutable(t, bin)
	for _, p := range []string{dir, work} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}

	rerun(t, bin, work, []string{childDirEnv + "=" + work},
		&syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}})
}

// rerun runs the calling test again in a child process, from the test binary bin, in dir, with
// env added and attr (another user, new namespaces), and fails with the child's output unless
// the test passed there.
func rerun(t *testing.T, bin, dir string, env []string, attr *syscall.SysProcAttr) {
	t.Helper()
	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	if *recoveryReport {
		args = append(args, "-sqlite.recovery-report")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	t.Logf("%s in a child process:\n%s", t.Name(), out)
	if err != nil {
		t.Fatalf("%s in a child process: %v", t.Name(), err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s did not pass in the child process (skipped or not run)", t.Name())
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// chmodDB sets the mode of the database file and of its -wal and -shm, where they exist.
func chmodDB(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, mode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// dropIdle closes the store's idle connections, so that the next calls open new ones, as the
// pool does whenever load grows past its idle connections or an idle one expires. (How many it
// keeps idle afterwards does not matter to the tests.)
func dropIdle(s *sqlite.Store) {
	s.DB.SetMaxIdleConns(0)
	s.DB.SetMaxIdleConns(8)
}

// TestReadOnlyRecovery makes the database files read-only and writable again, as an operator's
// chmod does, without reopening the store. A connection SQLite opens while the files are
// read-only stays read-only for life. Writes must fail as unavailable while the files are
// read-only, reads must go on, and once the files are writable the first write must succeed:
// no connection opened read-only may be reused for it (issue 16: writes failed until a
// restart), whether it failed a write (discarded on the error) or only served reads (discarded
// because it opened read-only), and a read-only connection still in use must not make new ones
// share its read-only -shm (the store's anchor connection).
func TestReadOnlyRecovery(t *testing.T) {
	asUnprivileged(t, func(t *testing.T, dir string) {
		path := filepath.Join(dir, "latchkey.db")
		if *recoveryReport {
			reportRecovery(t, path)
			return
		}
		ctx := context.Background()
		s := openStore(t, path, sqlite.Options{BusyTimeout: 200 * time.Millisecond})
		a := &latchkey.Account{Name: "before", Plan: latchkey.PlanEnterprise}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("write before: %v", err)
		}

		chmodDB(t, path, 0o444)
		restored := false
		defer func() {
			if !restored {
				chmodDB(t, path, 0o644)
			}
		}()
		// Connections opened before the chmod keep their writable file descriptors; the fault
		// is in those opened during it, so make the next ones new.
		dropIdle(s)
		for i := range 3 {
			wantUnavailable(t, fmt.Sprintf("write %d while the file is read-only", i+1), write(ctx, s), "read-only")
		}
		// Reads go on from a read-only file. Three at once open three connections, read-only
		// ones, which must not be left in the pool for writes to find later. One stays in use
		// across the restore, as a long request would.
		var conns []*sql.Conn
		for range 3 {
			c, err := s.DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var name string
			if err := c.QueryRowContext(ctx, "SELECT name FROM accounts WHERE id = ?", a.ID).Scan(&name); err != nil {
				t.Errorf("read while the file is read-only: %v", err)
			}
		}
		for _, c := range conns[1:] {
			c.Close()
		}
		if _, err := s.FindAccountByID(ctx, a.ID); err != nil {
			t.Errorf("FindAccountByID while the file is read-only: %v", err)
		}

		chmodDB(t, path, 0o644)
		restored = true
		start := time.Now()
		deadline := start.Add(20 * time.Second)
		failed := 0
		for {
			err := write(ctx, s)
			if err == nil {
				break
			}
			failed++
			if time.Now().After(deadline) {
				t.Fatalf("writes still failing %v after the file became writable again (%d failed): %v",
					time.Since(start).Round(time.Millisecond), failed, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("writes succeeded again %v after the file became writable again", time.Since(start))
		if failed > 0 {
			t.Errorf("%d writes failed after the file became writable again, on connections opened while it was not", failed)
		}
		for i := range 20 {
			if err := write(ctx, s); err != nil {
				t.Fatalf("write %d after recovery: %v", i+1, err)
			}
		}
		conns[0].Close()
	})
}

// reportRecovery measures recovery from read-only moments under load: writers and readers run
// throughout; each round makes the file read-only for 3 s, with the pool's idle connections
// dropped at its start (so that the connections the load needs during the moment are opened
// then, read-only: the case that never recovered), restores it, and records how long after the
// restore the first write succeeds, and whether any write begun after that fails.
func reportRecovery(t *testing.T, path string) {
	const (
		rounds   = 10
		writers  = 4
		readers  = 4
		readOnly = 3 * time.Second
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(t, path, sqlite.Options{BusyTimeout: time.Second})
	seed := &latchkey.Account{Name: "seed", Plan: latchkey.PlanEnterprise}
	if err := s.CreateAccount(ctx, seed); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		start, end time.Time
		err        error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		readErrs int
		wg       sync.WaitGroup
	)
	for range writers {
		wg.Go(func() {
			for {
				start := time.Now()
				err := write(ctx, s)
				if ctx.Err() != nil {
					return // cut short by the end of the measurement
				}
				mu.Lock()
				outcomes = append(outcomes, outcome{start, time.Now(), err})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for {
				_, err := s.FindAccountByID(ctx, seed.ID)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					mu.Lock()
					readErrs++
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	var recoveries []time.Duration
	for round := range rounds {
		time.Sleep(time.Second)
		chmodDB(t, path, 0o444)
		dropIdle(s)
		time.Sleep(readOnly)
		mu.Lock()
		n := len(outcomes)
		mu.Unlock()
		restored := time.Now()
		chmodDB(t, path, 0o644)
		time.Sleep(2 * time.Second)

		mu.Lock()
		got := outcomes[n:]
		mu.Unlock()
		var recovered time.Time
		for _, o := range got {
			if o.err == nil && o.end.After(restored) && (recovered.IsZero() || o.end.Before(recovered)) {
				recovered = o.end
			}
		}
		if recovered.IsZero() {
			t.Fatalf("round %d: no write succeeded within 2s of the file becoming writable again", round+1)
		}
		var failedAfter, okAfter int
		var firstErr error
		for _, o := range got {
			switch {
			case !o.start.After(recovered):
			case o.err != nil:
				failedAfter++
				if firstErr == nil {
					firstErr = o.err
				}
			default:
				okAfter++
			}
		}
		rec := recovered.Sub(restored)
		recoveries = append(recoveries, rec)
		t.Logf("round %2d: writes succeed again %s after the restore; then %d writes succeeded, %d failed",
			round+1, ms(rec), okAfter, failedAfter)
		if failedAfter > 0 {
			t.Errorf("round %d: %d of %d writes begun after writes recovered failed, first: %v",
				round+1, failedAfter, failedAfter+okAfter, firstErr)
		}
	}
	cancel()
	wg.Wait()

	failed := 0
	for _, o := range outcomes {
		if o.err != nil {
			failed++
			if code := latchkey.ErrorCodeOf(o.err); code != latchkey.EUnavailable {
				t.Errorf("a write failed with code %q, want %q: %v", code, latchkey.EUnavailable, o.err)
			}
		}
	}
	slices.Sort(recoveries)
	t.Logf("SQLite made read-only for %v then restored, %d rounds, %d writers + %d readers: writes succeed again within min %s, median %s, max %s, without a restart (%d of %d writes failed, all as unavailable; %d of the reads failed)",
		readOnly, rounds, writers, readers, ms(recoveries[0]), ms(recoveries[len(recoveries)/2]), ms(recoveries[len(recoveries)-1]),
		failed, len(outcomes), readErrs)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// TestOpenUnwritable opens databases this user cannot write: the error says so in words.
func TestOpenUnwritable(t *testing.T) {
	asUnprivileged(t, func(t *testing.T, dir string) {
		ctx := context.Background()
		roDir := filepath.Join(dir, "ro")
		if err := os.Mkdir(roDir, 0o555); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(roDir, "latchkey.db")
		_, err := sqlite.Open(ctx, path)
		t.Logf("Open(%q) = %v", path, err)
		if want := "directory " + roDir + " is not writable"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error saying %q", path, err, want)
		}

		path = filepath.Join(dir, "latchkey.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// A database that is read-only at start opens (reads can be served), and writes fail as
		// unavailable until the file is writable; then they work, without reopening.
		chmodDB(t, path, 0o444)
		s, err = sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open(%q) of a read-only file = %v", path, err)
		}
		defer s.Close()
		if _, _, err := s.FindAccounts(ctx, latchkey.AccountFilter{}); err != nil {
			t.Errorf("read from a database opened read-only: %v", err)
		}
		wantUnavailable(t, "write to a database opened read-only", write(ctx, s), "read-only")
		chmodDB(t, path, 0o644)
		if err := write(ctx, s); err != nil {
			t.Errorf("write once the file is writable: %v", err)
		}
	})
}
