-- Password screening (package breach). password_screening holds accounts
-- whose password could not be screened when it was set (imported hashes:
-- pending until the next successful login, when the plaintext is at hand)
-- and accounts whose password was found breached then (change_required).
-- An account without a row is screened and needs no change. breach_filter
-- records the digest of the breached-password filter last imported, so a
-- replica can tell that its copy of the file differs. Timestamps are unix ms.

-- +goose Up
CREATE TABLE password_screening (
    user_id         TEXT    NOT NULL PRIMARY KEY REFERENCES users (id),
    pending         BOOLEAN NOT NULL,
    change_required BOOLEAN NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE breach_filter (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    digest      TEXT    NOT NULL CHECK (digest <> ''),
    entries     BIGINT  NOT NULL,
    min_count   BIGINT  NOT NULL,
    imported_at BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE breach_filter;
DROP TABLE password_screening;
