-- Scopes granted to one account beyond those every account may request
-- (serve's --allowed-scopes): space-delimited RFC 6749 §3.3 scope tokens,
-- '' for none. Changing them raises the account epoch (device_epoch), so
-- access tokens issued under the old grants stop working.

-- +goose Up
ALTER TABLE users ADD COLUMN scopes TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN scopes;
