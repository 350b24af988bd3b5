//go:build unix

package proctest

import (
	"os/exec"
	"syscall"
	"time"
)

// InProcessGroup starts cmd as the leader of a new process group, so the
// servers a script starts can be stopped with it. For a command made with
// exec.CommandContext, a cancelled context then stops the whole group, not
// just the leader.
func InProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Cancel != nil {
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
	}
}

// Kill kills cmd's process, or whatever is left of its group when
// InProcessGroup made it a leader.
func Kill(cmd *exec.Cmd) { signal(cmd, syscall.SIGKILL) }

func interrupt(cmd *exec.Cmd) { signal(cmd, syscall.SIGINT) }

func signal(cmd *exec.Cmd, sig syscall.Signal) {
	switch {
	case cmd.Process == nil:
	case cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid:
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	default:
		_ = cmd.Process.Signal(sig)
	}
}

// GroupAlive reports whether any process is left in cmd's group, which
// InProcessGroup made cmd the leader of: after the leader has exited, what a
// script started and did not stop.
func GroupAlive(cmd *exec.Cmd) bool {
	if cmd.Process == nil || cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid {
		return false
	}
	return syscall.Kill(-cmd.Process.Pid, 0) == nil
}
