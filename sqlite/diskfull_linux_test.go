package sqlite_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/latchkey/latchkey/sqlite"
)

// mountNSEnv marks the child process TestDiskFull runs in, in a mount namespace of its own.
const mountNSEnv = "LATCHKEY_SQLITE_TEST_MOUNTNS"

// TestDiskFull fills the file system under a database, while it is open and before it opens:
// the errors must say the disk is full (at Open SQLite alone said "disk I/O error (4874)"), and
// writes must work again once there is room. The file system is a small tmpfs mounted in a
// child process's own mount namespace, so it goes away with the child.
func TestDiskFull(t *testing.T) {
	if os.Getenv(mountNSEnv) == "" {
		if os.Geteuid() != 0 {
			skipOutsideCI(t, "filling a file system needs root, to mount a small one")
		}
		bin, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		attr := &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if err := (&exec.Cmd{Path: "/bin/true", SysProcAttr: attr}).Run(); errors.Is(err, syscall.EPERM) {
			// A sandbox without CAP_SYS_ADMIN: no test here can fill a file system safely.
			t.Skipf("this sandbox refuses a mount namespace (%v); TestDiskFull did not run", err)
		}
		rerun(t, bin, t.TempDir(), []string{mountNSEnv + "=1"}, attr)
		return
	}

	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount a 4 MiB tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	ctx := context.Background()
	path := filepath.Join(dir, "latchkey.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(ctx, s); err != nil {
		t.Fatal(err)
	}

	// The disk fills while the store is open: writes fail as unavailable, saying so, and work
	// again once there is room.
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	wantUnavailable(t, "write on a full disk", write(ctx, s), "disk full")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := write(ctx, s); err != nil {
		t.Errorf("write once there is room again: %v", err)
	}
	s.Close()

	// The disk is full when the store opens.
	fill(t, filler)
	_, err = sqlite.Open(ctx, path)
	t.Logf("Open on a full disk = %v", err)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Open(%q) on a full disk = %v, want an error saying %q", path, err, "disk full")
	}
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// skipOutsideCI skips the test with reason, except in CI, where it must run.
func skipOutsideCI(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run in CI: %s", reason)
	}
	t.Skip(reason)
}
