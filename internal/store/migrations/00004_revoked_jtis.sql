-- Access tokens revoked before their expiry (RFC 7009), by jti. A row is
-- needed only until the token's exp: afterwards the token fails on its own,
-- so expired rows are purged.

-- +goose Up
CREATE TABLE revoked_jtis (
    jti        TEXT   NOT NULL PRIMARY KEY CHECK (jti <> ''),
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_jtis_expiry_idx ON revoked_jtis (expires_at);

-- +goose Down
DROP TABLE revoked_jtis;
