package main

import (
	"strings"
	"testing"
)

// TestConfigPrintHidesDatabasePasswords: `config print` is meant to be
// pasted into a ticket, but a PostgreSQL password that pgx reads from the
// URL's query (password=...) or one holding a comma (valid in a URL's
// userinfo) is printed in clear: Redact only hides url.User's password,
// and splits every value on ',' as if it were a list.
func TestConfigPrintHidesDatabasePasswords(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app@127.0.0.1/x?password=hunter4",
		"postgres://app:hun,ter5@127.0.0.1/x",
		"postgres://app@127.0.0.1/x?sslpassword=hunter6&sslkey=/k",
	} {
		code, out, stderr := credshield(t, "", map[string]string{"CREDSHIELD_DB": dsn}, "config", "print", "serve")
		if code != 0 {
			t.Fatalf("config print: exit %d %s", code, stderr)
		}
		for _, secret := range []string{"hunter4", "ter5", "hunter6"} {
			if strings.Contains(out, secret) {
				line := ""
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, secret) {
						line = l
					}
				}
				t.Errorf("config print shows the database password %q: %s", secret, line)
			}
		}
	}
}
