-- Device credentials (package device) carry the account's device epoch;
-- a password reset or a disable raises it, revoking every credential issued
-- before without a table of devices.

-- +goose Up
ALTER TABLE users ADD COLUMN device_epoch BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN device_epoch;
