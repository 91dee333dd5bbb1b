//go:build linux || darwin

package sqlite

import (
	"os"
	"syscall"
)

func statFS(dir string) (fsStat, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fsStat{}, false
	}
	blocks := uint64(st.Bavail)
	if os.Geteuid() == 0 {
		blocks = uint64(st.Bfree) // root may use the blocks reserved for it
	}
	const rdonly = 1 // ST_RDONLY on Linux, MNT_RDONLY on macOS
	return fsStat{
		free:     blocks * uint64(st.Bsize),
		noInodes: st.Files > 0 && st.Ffree == 0, // file systems without an inode limit report 0 of 0
		readOnly: uint64(st.Flags)&rdonly != 0,
	}, true
}

// wOK asks access(2) about write permission.
const wOK = 2

// writable reports whether this process may write path.
func writable(path string) bool { return syscall.Access(path, wOK) == nil }

// readOnlyFile reports whether path exists and this process may not write it.
func readOnlyFile(path string) bool {
	err := syscall.Access(path, wOK)
	return err != nil && err != syscall.ENOENT
}
