package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill redis-server when the test binary dies
// without running Main's cleanup (a panic, a -timeout, ^C), so no orphan
// servers pile up.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
