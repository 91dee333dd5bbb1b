//go:build !(linux || darwin)

// Elsewhere Open says less about why it failed, and a new connection is judged by its database
// file alone.

package sqlite

func statFS(string) (fsStat, bool) { return fsStat{}, false }

func writable(string) bool { return true }

func readOnlyFile(string) bool { return false }
