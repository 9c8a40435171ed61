-- Portal accounts, roles, invitations and API tokens (store.Accounts).
--
-- The account lives in columns of objects rather than in a table of its own:
-- it is one-to-one with the object, every read of a user returns it, and a
-- listing filters and sorts on registered, locked and last_login, which then
-- stay plain columns of the row being paged (no outer join and no COALESCE
-- over a missing row in every keyset comparison). ADD COLUMN with a constant
-- default rewrites no rows in SQLite, and the sync path's INSERT keeps naming
-- only the synchronised columns. The secret columns (password_hash,
-- answer_hash) and the security question are read only by Store.Credentials
-- and the account writers; objectColumns never selects them.
--
-- Times are Unix nanoseconds (UTC) as in 0001; 0 is "never", which sorts
-- before every real time as store.Cursor expects. Lists are JSON arrays.

ALTER TABLE objects ADD COLUMN default_lead     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN registered       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN password_hash    TEXT    NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN force_change     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN question         TEXT    NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN answer_hash      TEXT    NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN locked           INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN failed_logins    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN last_login       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN last_login_error TEXT    NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN last_seen        INTEGER NOT NULL DEFAULT 0;

-- NOCASE makes the unique constraint case-insensitive (ASCII, as PostgreSQL's
-- lower() under "C"); listings order with COLLATE BINARY to keep byte order.
CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (name <> ''),
    permissions TEXT    NOT NULL DEFAULT '[]', -- JSON array, sorted
    is_default  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE user_roles (
    object_id INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    role_id   INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (object_id, role_id)
) WITHOUT ROWID;
CREATE INDEX user_roles_role ON user_roles (role_id);

-- Only the token's hash is kept. A preset registration is stored with the
-- invitation (preset = 0: the user chooses their own).
CREATE TABLE invitations (
    token_hash           TEXT    PRIMARY KEY,
    object_id            INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    created              INTEGER NOT NULL,
    expires              INTEGER NOT NULL,
    used                 INTEGER NOT NULL DEFAULT 0, -- 0: not redeemed
    preset               INTEGER NOT NULL DEFAULT 0,
    preset_password_hash TEXT    NOT NULL DEFAULT '',
    preset_force_change  INTEGER NOT NULL DEFAULT 0,
    preset_question      TEXT    NOT NULL DEFAULT '',
    preset_answer_hash   TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX invitations_object ON invitations (object_id);

CREATE TABLE tokens (
    id        INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL UNIQUE,
    hash      TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the token
    scopes    TEXT    NOT NULL DEFAULT '[]', -- JSON array
    created   INTEGER NOT NULL,
    last_used INTEGER NOT NULL DEFAULT 0 -- 0: never
);

-- The default roles (store.DefaultRoles, SPEC §2) are seeded from Go, by
-- store/sqlstore, in the transaction that applies this file. Until that moved
-- to Go they were an INSERT here; stores that ran it already have them, and
-- this version is never applied twice.
