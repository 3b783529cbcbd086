package main

import (
	"net/url"

	"github.com/credshield/credshield/internal/config"
)

// addUserHint is the command that adds a user to the store serve uses
// (db is its --db): an account added to any other store cannot log in.
// A PostgreSQL URL is shown with its password redacted; when it came from
// CREDSHIELD_DB the hint relies on that variable instead.
func addUserHint(e *env, db string) string {
	target, err := config.ParseDB(db)
	if err != nil || db == "" {
		return "credshield user add NAME --data-dir " + e.dataDir
	}
	if target.Kind == config.DBPostgres {
		if v, ok := e.lookupEnv(config.EnvName("db")); ok && v == db {
			return "credshield user add NAME (with the same " + config.EnvName("db") + ")"
		}
		if u, err := url.Parse(db); err == nil {
			if _, has := u.User.Password(); has {
				return "credshield user add NAME --db '" + u.Redacted() + "' (with the real password)"
			}
			return "credshield user add NAME --db '" + db + "'"
		}
		return "credshield user add NAME --db postgres://..."
	}
	return "credshield user add NAME --db '" + db + "'"
}
