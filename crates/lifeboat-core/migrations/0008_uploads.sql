-- Multipart uploads a job began and has not yet completed or aborted. A crash leaves rows
-- here, and the next start aborts those uploads: S3 keeps, and bills, the parts of an upload
-- nobody completes or aborts. The upload's target is its job's.
CREATE TABLE uploads (
    upload_id   TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    object      TEXT NOT NULL
);
