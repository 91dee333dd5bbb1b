package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openError is the error of a failed Open. SQLite's own message ("disk I/O error (4874)",
// "unable to open database file") names the call that failed, not what the operator starting the
// server must fix, so when SQLite could not reach its files the error first says why in words,
// from what the file system shows now.
func openError(path string, err error) error {
	if why := diagnose(path, err); why != "" {
		return fmt.Errorf("open sqlite %q: %s: %w", path, why, err)
	}
	return fmt.Errorf("open sqlite %q: %w", path, err)
}

// lowSpace is free space below which a failed write is put down to a full disk: SQLite grows its
// files by pages and its shared-memory file by 32 KiB.
const lowSpace = 1 << 20

// diagnose says what keeps SQLite from the database at path after err, or "" when err is not
// about reaching the files (a failing migration, say).
func diagnose(path string, err error) string {
	reason, ok := dialect{}.Unavailable(err)
	if !ok {
		return ""
	}
	var e *sqlite.Error
	if errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED) {
		return reason // another process's lock, whatever the files look like
	}
	dir := filepath.Dir(path)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("directory %s does not exist", dir)
	case err == nil && !fi.IsDir():
		return fmt.Sprintf("%s is not a directory", dir)
	}
	if st, ok := statFS(dir); ok {
		switch {
		case st.readOnly:
			return fmt.Sprintf("the file system holding %s is mounted read-only", dir)
		case st.free < lowSpace:
			return fmt.Sprintf("disk full: %s free on the file system holding %s", bytesIEC(st.free), dir)
		case st.noInodes:
			return fmt.Sprintf("disk full: no free inodes on the file system holding %s", dir)
		}
	}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if !exists && !writable(dir) {
		return fmt.Sprintf("cannot create the database file: directory %s is not writable by this user (uid %d)", dir, os.Geteuid())
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if readOnlyFile(f) {
			return fmt.Sprintf("%s is read-only for this user (uid %d)", f, os.Geteuid())
		}
	}
	if !writable(dir) {
		return fmt.Sprintf("directory %s is not writable by this user (uid %d), and SQLite creates its -wal and -shm files there", dir, os.Geteuid())
	}
	return reason
}

// fsStat is what diagnose needs from statfs(2).
type fsStat struct {
	free     uint64 // bytes available to this user
	noInodes bool
	readOnly bool
}

func bytesIEC(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
