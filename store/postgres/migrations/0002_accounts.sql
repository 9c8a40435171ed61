-- Portal accounts, roles, invitations and API tokens (store.Accounts).
--
-- The account lives in columns of objects rather than in a table of its own:
-- it is one-to-one with the object, every read of a user returns it, and a
-- listing filters and sorts on registered, locked and last_login, which then
-- stay plain columns of the row being paged (no outer join, no COALESCE over a
-- missing row in every keyset comparison). Every new column has a constant
-- default, so adding them rewrites nothing and the batched create path keeps
-- inserting only the synchronised columns. The secret columns (password_hash,
-- answer_hash) are read only by Store.Credentials; objectColumns never selects
-- them.

ALTER TABLE objects
    ADD COLUMN default_lead     boolean NOT NULL DEFAULT false,
    ADD COLUMN registered       boolean NOT NULL DEFAULT false,
    ADD COLUMN password_hash    text    NOT NULL DEFAULT '',
    ADD COLUMN force_change     boolean NOT NULL DEFAULT false,
    ADD COLUMN question         text    NOT NULL DEFAULT '',
    ADD COLUMN answer_hash      text    NOT NULL DEFAULT '',
    ADD COLUMN locked           boolean NOT NULL DEFAULT false,
    ADD COLUMN failed_logins    integer NOT NULL DEFAULT 0,
    ADD COLUMN last_login       timestamptz, -- NULL: never
    ADD COLUMN last_login_error text    NOT NULL DEFAULT '',
    ADD COLUMN last_seen        timestamptz; -- NULL: never

-- Every column a listing sorts by orders by bytes, as store/sqlite's do, so
-- both backends page identically whatever the database's locale. Changing only
-- the collation of a text column rewrites no rows (no index uses these yet).
ALTER TABLE objects
    ALTER COLUMN given_name TYPE text COLLATE "C",
    ALTER COLUMN surname    TYPE text COLLATE "C",
    ALTER COLUMN phone      TYPE text COLLATE "C",
    ALTER COLUMN department TYPE text COLLATE "C",
    ALTER COLUMN title      TYPE text COLLATE "C";

-- Role names are unique case-insensitively; lower() under the "C" collation
-- folds ASCII only, like SQLite's NOCASE.
CREATE TABLE roles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL CHECK (name <> ''),
    permissions text[] NOT NULL DEFAULT '{}', -- sorted
    is_default  boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX roles_name ON roles (lower(name));

CREATE TABLE user_roles (
    object_id bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    role_id   bigint NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (object_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id);

-- Only the token's hash is kept. A preset registration is stored with the
-- invitation (preset = false: the user chooses their own).
CREATE TABLE invitations (
    token_hash           text PRIMARY KEY,
    object_id            bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    created              timestamptz NOT NULL,
    expires              timestamptz NOT NULL,
    used                 timestamptz, -- NULL: not redeemed
    preset               boolean NOT NULL DEFAULT false,
    preset_password_hash text    NOT NULL DEFAULT '',
    preset_force_change  boolean NOT NULL DEFAULT false,
    preset_question      text    NOT NULL DEFAULT '',
    preset_answer_hash   text    NOT NULL DEFAULT ''
);
CREATE INDEX invitations_object ON invitations (object_id);

CREATE TABLE tokens (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text COLLATE "C" NOT NULL UNIQUE,
    hash      text NOT NULL UNIQUE, -- hex SHA-256 of the token
    scopes    text[] NOT NULL DEFAULT '{}',
    created   timestamptz NOT NULL,
    last_used timestamptz -- NULL: never
);

-- The default roles (store.DefaultRoles, SPEC §2) are seeded from Go, by
-- store/sqlstore, in the transaction that applies this file. Until that moved
-- to Go they were an INSERT here; stores that ran it already have them, and
-- this version is never applied twice.
