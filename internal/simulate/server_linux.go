package simulate

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop the server if the simulator dies
// without cleaning up, so no server outlives its run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
