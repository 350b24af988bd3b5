//go:build !unix

package proctest

import "os/exec"

// Without process groups only the started process itself is stopped, and
// without signals it is killed at once.

func InProcessGroup(*exec.Cmd) {}

func Kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func interrupt(cmd *exec.Cmd) { Kill(cmd) }

// GroupAlive reports false: without process groups there is nothing to ask.
func GroupAlive(*exec.Cmd) bool { return false }
