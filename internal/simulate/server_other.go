//go:build !linux

package simulate

import "os/exec"

// dieWithParent does nothing where the kernel offers no parent-death
// signal; stop still ends the server on every normal exit.
func dieWithParent(*exec.Cmd) {}
