//go:build !linux

package redistest

import "os/exec"

// dieWithParent does nothing here: only Linux can tie a child's life to its
// parent's, so a test binary that crashes may leave its redis-server behind.
func dieWithParent(*exec.Cmd) {}
