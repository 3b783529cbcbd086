-- The service's own secrets, shared by every replica: HMAC keys (device
-- credentials, challenges, DPoP nonces) and signing keys, each sealed with
-- the key-encryption key (package seal) that lives outside the database.
-- Sealed blobs are base64url TEXT rather than BLOB/BYTEA, so one file fits
-- both dialects; a sealed blob names its row (the AEAD binds name or kid),
-- so a blob copied to another row does not open. Timestamps are unix ms.

-- +goose Up
CREATE TABLE sealed_secrets (
    name       TEXT   NOT NULL PRIMARY KEY CHECK (name <> ''),
    sealed     TEXT   NOT NULL CHECK (sealed <> ''),
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT   NOT NULL PRIMARY KEY CHECK (kid <> ''),
    alg        TEXT   NOT NULL CHECK (alg <> ''),
    created_at BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    sealed     TEXT   NOT NULL CHECK (sealed <> '')
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE sealed_secrets;
