//! Turns object_store errors into Lifeboat's codes. S3 error codes (`NoSuchBucket`, …) are part
//! of the S3 protocol and arrive in the response body, so they are matched there.

use object_store::client::{HttpError, HttpErrorKind};

use crate::error::{Error, ErrorCode};

pub fn map_store_error(e: object_store::Error, doing: &str) -> Error {
    map_error(&e, doing)
}

/// For errors that arrive wrapped in `io::Error` (object_store's buffered writer).
pub fn map_store_io_error(e: std::io::Error, doing: &str) -> Error {
    match e.get_ref() {
        Some(inner) => map_error(inner, doing),
        None => Error {
            detail: Some(e.to_string()),
            ..Error::new(
                ErrorCode::StorageError,
                format!("Storage failed while {doing}."),
            )
        },
    }
}

fn map_error(e: &(dyn std::error::Error + 'static), doing: &str) -> Error {
    let detail = chain(e);
    let said = |code: &str| detail.contains(code);
    let denied = matches!(
        e.downcast_ref::<object_store::Error>(),
        Some(
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        )
    );
    // One sentence with the fix, and the field it concerns so a form can mark it.
    let (code, field, message) = if said("NoSuchBucket") {
        (
            ErrorCode::S3BucketMissing,
            Some("bucket"),
            "The bucket does not exist, or this key cannot see it: check Bucket and Region."
                .to_owned(),
        )
    } else if said("InvalidStorageClass") {
        (
            ErrorCode::S3StorageClassRejected,
            Some("storageClass"),
            "The server does not offer this storage class: choose another one (e.g. STANDARD)."
                .to_owned(),
        )
    } else if said("InvalidAccessKeyId") || said("NotSignedUp") {
        (
            ErrorCode::S3AuthFailed,
            Some("accessKeyId"),
            "The server does not know this access key ID: copy it again from the provider."
                .to_owned(),
        )
    } else if said("SignatureDoesNotMatch") {
        (
            ErrorCode::S3AuthFailed,
            Some("secretAccessKey"),
            "The secret access key does not belong to this access key ID: enter it again."
                .to_owned(),
        )
    } else if denied || said("AccessDenied") {
        (
            ErrorCode::S3AuthFailed,
            None,
            "The key may not do this: allow it to list, read, write and delete objects under the prefix."
                .to_owned(),
        )
    } else if is_connect_failure(e) {
        (
            ErrorCode::S3Unreachable,
            Some("endpoint"),
            "The storage server cannot be reached, or stopped answering: check the endpoint URL and the network, then try again."
                .to_owned(),
        )
    } else {
        (
            ErrorCode::StorageError,
            None,
            format!("Storage failed while {doing}."),
        )
    };
    Error {
        code,
        message,
        field: field.map(str::to_owned),
        detail: Some(format!("While {doing}: {detail}")),
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn is_connect_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(http) = s.downcast_ref::<HttpError>() {
            // Request: the connection closed before an answer came, as when the server stops.
            return matches!(
                http.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Request
            );
        }
        source = s.source();
    }
    false
}
