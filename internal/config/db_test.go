package config

import (
	"strings"
	"testing"
)

func TestParseDB(t *testing.T) {
	tests := []struct {
		raw     string
		want    DBTarget
		wantErr bool
	}{
		{"", DBTarget{Kind: DBSQLite}, false},
		{"sqlite:///var/lib/credshield/c.db", DBTarget{Kind: DBSQLite, Path: "/var/lib/credshield/c.db"}, false},
		{"sqlite://rel/a?b#c.db", DBTarget{Kind: DBSQLite, Path: "rel/a?b#c.db"}, false},
		{"sqlite://", DBTarget{}, true},
		{"postgres://u:pw@db:5432/cs?sslmode=require", DBTarget{Kind: DBPostgres, DSN: "postgres://u:pw@db:5432/cs?sslmode=require"}, false},
		{"postgresql:///cs?host=/run/postgresql", DBTarget{Kind: DBPostgres, DSN: "postgresql:///cs?host=/run/postgresql"}, false},
		{"postgres://u:pw@db:5432/%zz", DBTarget{}, true},
		{"mysql://u:pw@db/cs", DBTarget{}, true},
		{"/var/lib/c.db", DBTarget{}, true},
		{"u:pw@db/cs", DBTarget{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseDB(tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDB = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q reveals the password", err)
			}
			if got != tt.want {
				t.Errorf("ParseDB = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateDB(t *testing.T) {
	c := Default()
	c.DB = "redis://x:pw@h"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--db") || strings.Contains(err.Error(), "pw") {
		t.Errorf("Validate with a bad --db = %v", err)
	}
	c = Default()
	c.DB = "postgres://h/db"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with a postgres --db: %v", err)
	}
}
