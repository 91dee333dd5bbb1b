//go:build !unix

package pgtest

import "os"

// lockFile does nothing where flock is missing: tests then share the server unguarded.
func lockFile(*os.File, bool) error { return nil }

func unlockFile(*os.File) {}
