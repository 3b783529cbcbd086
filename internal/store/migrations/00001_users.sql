-- Accounts. Written once for SQLite and PostgreSQL alike (see package doc):
-- TEXT ids, BOOLEAN with FALSE default, BIGINT unix-millisecond timestamps.

-- +goose Up
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE CHECK (username <> ''),
    password_hash TEXT    NOT NULL CHECK (password_hash <> ''),
    hash_class    TEXT    NOT NULL CHECK (hash_class <> ''),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE INDEX users_hash_class_idx ON users (hash_class);

-- +goose Down
DROP TABLE users;
