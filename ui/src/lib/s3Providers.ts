// S3-compatible providers, so a new target gets the endpoint, region, addressing and storage
// class each one needs without the user knowing them (Cloudflare R2, Backblaze B2 and MinIO
// reject AWS's STANDARD_IA, and serve many buckets from one endpoint).

export type ProviderId = "aws" | "r2" | "b2" | "wasabi" | "minio" | "other";

export interface Provider {
  id: ProviderId;
  label: string;
  /** The endpoint with the part the user fills in written in capitals; "" for AWS itself. */
  endpoint: string;
  region: string;
  storageClass: string;
  /** Where to find the values in capitals. */
  hint: string;
}

export const PROVIDERS: Provider[] = [
  { id: "aws", label: "Amazon S3", endpoint: "", region: "us-east-1", storageClass: "STANDARD_IA", hint: "Set the bucket's region." },
  {
    id: "r2",
    label: "Cloudflare R2",
    endpoint: "https://ACCOUNT_ID.r2.cloudflarestorage.com",
    region: "auto",
    storageClass: "STANDARD",
    hint: "Replace ACCOUNT_ID with the account ID from the R2 overview page.",
  },
  {
    id: "b2",
    label: "Backblaze B2",
    endpoint: "https://s3.REGION.backblazeb2.com",
    region: "us-west-004",
    storageClass: "STANDARD",
    hint: "Use the bucket's endpoint from its details page; REGION is its region (e.g. us-west-004).",
  },
  {
    id: "wasabi",
    label: "Wasabi",
    endpoint: "https://s3.REGION.wasabisys.com",
    region: "us-east-1",
    storageClass: "STANDARD",
    hint: "Replace REGION with the bucket's region (e.g. eu-central-1) in both fields.",
  },
  {
    id: "minio",
    label: "MinIO or Garage",
    endpoint: "http://HOST:9000",
    region: "us-east-1",
    storageClass: "STANDARD",
    hint: "Replace HOST with the server (Garage listens on :3900 and names its region garage).",
  },
  { id: "other", label: "Other S3-compatible", endpoint: "", region: "us-east-1", storageClass: "STANDARD", hint: "Enter the endpoint URL your provider gives." },
];

/** The provider an existing endpoint belongs to. */
export function detectProvider(endpoint: string): ProviderId {
  const e = endpoint.trim().toLowerCase();
  if (e === "") return "aws";
  if (e.includes(".r2.cloudflarestorage.com")) return "r2";
  if (e.includes("backblazeb2.com")) return "b2";
  if (e.includes("wasabisys.com")) return "wasabi";
  return "other";
}

/** Whether an endpoint is plain http:// to another machine, which the core refuses unless allowed. */
export function isRemotePlainHttp(endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    return false;
  }
  if (url.protocol !== "http:") return false;
  const host = url.hostname.toLowerCase();
  return !(host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host));
}
