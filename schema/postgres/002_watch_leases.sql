-- Leases on watches (issue 16): several daemons share this store, and a due watch must be polled
-- by one of them only. store::due_watches claims what it returns (claimed_by: the store
-- object's owner id, claimed_until: unix ms as every time here); another daemon's due_watches
-- skips a claimed watch until its claim expires, so a daemon that died holds its watches for one
-- lease at most. reschedule_watch, finish_watch, give_up_watch and a tombstone clear the claim.
ALTER TABLE watches
    ADD COLUMN claimed_by    text COLLATE "C",
    ADD COLUMN claimed_until bigint,
    ADD CONSTRAINT watches_claim_whole CHECK ((claimed_by IS NULL) = (claimed_until IS NULL));
