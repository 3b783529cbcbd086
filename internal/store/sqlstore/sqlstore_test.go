package sqlstore

import "testing"

// TestDialectSQL: ? placeholders are numbered in order for PostgreSQL and
// left alone for SQLite; nothing else in a statement changes.
func TestDialectSQL(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"sqlite", false, `UPDATE t SET a = ? WHERE b = ? AND c = ?`, `UPDATE t SET a = ? WHERE b = ? AND c = ?`},
		{"postgres", true, `UPDATE t SET a = ? WHERE b = ? AND c = ?`, `UPDATE t SET a = $1 WHERE b = $2 AND c = $3`},
		{"postgres, ten and more", true, `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
		{"postgres, none", true, `SELECT 1 FROM users`, `SELECT 1 FROM users`},
		{"postgres, adjacent", true, `(??)`, `($1$2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Dialect{Numbered: tt.numbered}).sql(tt.in); got != tt.want {
				t.Errorf("sql(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
