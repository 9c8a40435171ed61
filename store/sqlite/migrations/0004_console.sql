-- The admin console (issue 22): its sign-in sessions, and the permission to
-- sign in.
--
-- A session is shared by every process on the store. Only the hex SHA-256 of
-- the session's id (the cookie's value) is kept; the row holds no secret.
-- Sessions are not audited. The address is not a reference to objects: the
-- console checks the user on every request. Times are Unix nanoseconds (UTC).
CREATE TABLE sessions (
    hash      TEXT    PRIMARY KEY,
    address   TEXT    NOT NULL,
    created   INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, -- the idle timeout counts from here
    expires   INTEGER NOT NULL  -- the absolute timeout
) WITHOUT ROWID;
-- PurgeSessions deletes by either time.
CREATE INDEX sessions_last_seen ON sessions (last_seen);
CREATE INDEX sessions_expires ON sessions (expires);

-- "console" joined store.Permissions, and Administrator holds every
-- permission: a new store seeds it so (0002), an existing one gets it here.
-- The list stays a sorted JSON array without duplicates.
UPDATE roles
SET permissions = (
    SELECT json_group_array(value ORDER BY value COLLATE BINARY)
    FROM (SELECT value FROM json_each(roles.permissions) UNION SELECT 'console')
)
WHERE name = 'Administrator'
  AND NOT EXISTS (SELECT 1 FROM json_each(roles.permissions) WHERE value = 'console');
