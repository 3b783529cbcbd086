// Package privdir checks the directories that hold the service's keys
// (the data directory's keys/ and secrets/). A key file is only as private
// as its directory: whoever may write to the directory, or owns it, can
// replace or add a key file — a signing key of their own, or an HMAC key
// that mints device credentials — however strict the file's own mode is.
// One check, called for every such directory, so they are refused with the
// same words.
package privdir

import (
	"fmt"
	"os"
)

// Ensure creates dir (0700) when it does not exist and refuses a directory
// that group or others may write to, or that another user owns.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return Check(dir)
}

// Check refuses an existing dir that group or others may write to, or that
// another user owns; it creates nothing.
func Check(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("directory %s is writable by group or others (mode %04o); use chmod 700", dir, perm)
	}
	if uid, ok := owner(info); ok && uid != os.Geteuid() {
		return fmt.Errorf("directory %s is owned by uid %d, not by the user credshield runs as (uid %d); use chown", dir, uid, os.Geteuid())
	}
	return nil
}
