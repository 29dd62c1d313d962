-- 053_publish_wakeup: queued publish jobs wake the publisher after their
-- commit, not inside it.
--
-- The statement trigger of 051 sent NOTIFY signet_publish from inside
-- each transaction that queued jobs: every issuance. A transaction that
-- has notified holds the database's notification lock from its
-- pre-commit to the end of its commit, through the WAL flush, so no two
-- issuing transactions -- ca-serve's lanes, `signet issue` run side by
-- side -- could share a flush. The store now notifies in a statement of
-- its own once the jobs are committed (ca/store.c, publish_wake). A
-- wake-up lost to a crash between the two waits for the publisher's
-- sweep; the jobs themselves are committed and are never lost.
--
-- Later measured otherwise: a NOTIFY after the commit is a transaction of
-- its own, with a commit record and a flush of its own, and it holds the
-- same lock through that flush. ca/store.c (store_commit) now sends one
-- NOTIFY per transaction just before its COMMIT; the trigger stays gone.

DROP TRIGGER publish_jobs_notify ON publish_jobs;
DROP FUNCTION publish_jobs_notify_once();
