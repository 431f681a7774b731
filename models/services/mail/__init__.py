"""The email channel: parsing, IMAP polling into intake, SMTP replies, mailboxes."""
