//go:build unix

package examples

import (
	"os/exec"
	"syscall"
	"time"
)

// inProcessGroup starts cmd as the leader of a new process group, so the
// servers a script starts can be stopped with it. For a command made with
// exec.CommandContext, a cancelled context then stops the whole group, not
// just the leader.
func inProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Cancel != nil {
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
	}
}

// interruptProcessGroup asks every process of cmd's group to stop.
func interruptProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
}

// killProcessGroup kills whatever is left of cmd's group.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
