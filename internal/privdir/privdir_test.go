package privdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsure(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" for no error
	}{
		{"created 0700", func(*testing.T, string) {}, ""},
		{"existing 0700", func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, ""},
		{"readable by others is fine", func(t *testing.T, dir string) { mkdir(t, dir, 0o755) }, ""},
		{"group-writable", func(t *testing.T, dir string) { mkdir(t, dir, 0o770) }, "writable by group or others (mode 0770); use chmod 700"},
		{"world-writable", func(t *testing.T, dir string) { mkdir(t, dir, 0o707) }, "writable by group or others (mode 0707); use chmod 700"},
		{"a file", func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a directory"},
		{"another user's", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			mkdir(t, dir, 0o700)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			tt.setup(t, dir)
			err := Ensure(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info, err := os.Stat(dir); err != nil || !info.IsDir() {
					t.Fatalf("not created: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // umask
		t.Fatal(err)
	}
}
