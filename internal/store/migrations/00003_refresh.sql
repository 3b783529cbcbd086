-- Refresh tokens (RFC 6749 §6) in families: every login starts a family;
-- each redemption rotates to a new token in the same family, and presenting
-- a token already redeemed revokes the whole family (reuse detection).
-- Tokens are stored only as their SHA-256 (hex), never usable as stored.
-- jkt is the DPoP key thumbprint the family is bound to, '' when unbound.
-- revoked_at and used_at are NULL while unset; timestamps are unix ms.

-- +goose Up
CREATE TABLE refresh_families (
    id                  TEXT   NOT NULL PRIMARY KEY,
    user_id             TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id           TEXT   NOT NULL,
    scope               TEXT   NOT NULL,
    jkt                 TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT
);

CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);
CREATE INDEX refresh_families_expiry_idx ON refresh_families (absolute_expires_at);

CREATE TABLE refresh_tokens (
    hash            TEXT   NOT NULL PRIMARY KEY CHECK (length(hash) = 64),
    family_id       TEXT   NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    used_at         BIGINT
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
