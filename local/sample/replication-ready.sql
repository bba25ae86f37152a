-- What a team does before its first online or failback deployment, as Preflight's messages say:
-- logical replication carries neither unlogged tables nor large objects, so the sample's are made
-- a logged table and a bytea column. The rehearsal runs this after the seed when the run
-- replicates (--mode online, --failback); offline runs keep both, to show how a clone treats them.
ALTER TABLE app.sessions_cache SET LOGGED;

ALTER TABLE app.invoice_pdfs ALTER COLUMN pdf TYPE bytea USING lo_get(pdf);
SELECT lo_unlink(oid) FROM pg_largeobject_metadata;
