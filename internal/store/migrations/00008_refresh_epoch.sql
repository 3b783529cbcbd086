-- A refresh-token family carries the account epoch (users.device_epoch) it
-- was started under; the refresh grant refuses, and revokes, a family whose
-- epoch is no longer the account's, as verification refuses an access token.
-- Families started before this migration get 0: those of accounts whose
-- epoch has moved past 0 are refused at their next refresh (their holders
-- sign in again), the safe reading of a family nothing tied to an epoch.

-- +goose Up
ALTER TABLE refresh_families ADD COLUMN account_epoch BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE refresh_families DROP COLUMN account_epoch;
