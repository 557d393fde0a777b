// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type TargetConfig = { "kind": "local", path: string, } | { "kind": "s3", endpoint: string | null, region: string, bucket: string, prefix: string, pathStyle: boolean, storageClass: string, accessKeyId: string, hasSecret: boolean, };
