-- Accounts as the portals work them (issue 23): invitations carry the roles
-- the administrator chose and the state of their email; a store-wide key for
-- the answers that must not tell a known address from an unknown one.
--
-- roles is a JSON array of role names as defined. email_status is '' (no
-- email asked for), 'pending' (being sent), 'sent', 'retrying' (a temporary
-- failure; email_next is the next attempt) or 'failed'. email_error is the
-- last failure's words (never the token). Times are Unix nanoseconds, 0 never.
ALTER TABLE invitations ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE invitations ADD COLUMN email_status TEXT NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN email_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN email_error TEXT NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN email_next INTEGER NOT NULL DEFAULT 0;

-- Named values the store generates once and every replica shares (the key
-- of the password reset's stand-in questions). Never audited, never shown.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
