-- Microsoft 365 facts an Entra connector synchronises for its users (dirsync
-- issue 23): a licensed mailbox, and membership of an administrator directory
-- role. Inviting such a user with an administrator role needs both. Other
-- objects keep false. Both are written by sync and audited like the other
-- synchronised fields.
ALTER TABLE objects ADD COLUMN licensed        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN directory_admin INTEGER NOT NULL DEFAULT 0;
