import type { Environment } from "./bindings/Environment";
import type { MediaBucket } from "./bindings/MediaBucket";

/** `s3://bucket/prefix`, as the core and the CLI name a media bucket. */
export function bucketUrl(bucket: MediaBucket): string {
  return bucket.prefix ? `s3://${bucket.bucket}/${bucket.prefix}` : `s3://${bucket.bucket}`;
}

/** Where an environment's media is (a folder, or a bucket's URL), or null when it has none. */
export function mediaLocation(env: Environment): string | null {
  if (env.mediaDir !== null) return env.mediaDir;
  return env.mediaBucket ? bucketUrl(env.mediaBucket) : null;
}
