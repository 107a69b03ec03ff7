-- A push signed by a key other than the feed's reporter (issue 46): counted on the feed, not
-- recorded in its rejections (a stranger cannot write into the reporter's log).
ALTER TABLE feeds ADD COLUMN refused_signatures integer NOT NULL DEFAULT 0;
