package config

import (
	"strings"
	"testing"
)

// TestWeakArgon2idRefused holds the OWASP table: every row passes, a pair
// below each row fails, and --insecure-weak-hash lets a weak pair through.
// Without the check, 64 KiB and one pass were accepted silently.
func TestWeakArgon2idRefused(t *testing.T) {
	tests := []struct {
		name      string
		memoryKiB uint32
		time      uint32
		weak      bool
	}{
		{"owasp 46 MiB t=1", 47104, 1, false},
		{"owasp 19 MiB t=2", 19456, 2, false},
		{"owasp 12 MiB t=3", 12288, 3, false},
		{"owasp 9 MiB t=4", 9216, 4, false},
		{"owasp 7 MiB t=5", 7168, 5, false},
		{"more of both", 65536, 3, false},
		{"more passes, 7 MiB", 7168, 10, false},
		{"19 MiB t=1", 19456, 1, true},
		{"just below 46 MiB t=1", 47103, 1, true},
		{"just below 19 MiB t=2", 19455, 2, true},
		{"just below 7 MiB t=9", 7167, 9, true},
		{"test cheap", 64, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WeakArgon2id(tt.memoryKiB, tt.time); got != tt.weak {
				t.Fatalf("WeakArgon2id(%d, %d) = %v, want %v", tt.memoryKiB, tt.time, got, tt.weak)
			}
			p := DefaultPasswords()
			p.Argon.MemoryKiB, p.Argon.Time = tt.memoryKiB, tt.time
			err := p.Validate()
			if tt.weak != (err != nil) {
				t.Fatalf("Validate: %v, want weak=%v", err, tt.weak)
			}
			if tt.weak && !strings.Contains(err.Error(), "--insecure-weak-hash") {
				t.Errorf("error does not name the way out: %v", err)
			}
			p.InsecureWeakHash = true
			if err := p.Validate(); err != nil {
				t.Errorf("with --insecure-weak-hash: %v", err)
			}
		})
	}
}
