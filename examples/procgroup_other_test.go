//go:build !unix

package examples

import "os/exec"

// Without process groups only the started process itself is stopped.

func inProcessGroup(*exec.Cmd) {}

func interruptProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
