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
        None => Error::new(
            ErrorCode::StorageError,
            format!("Storage failed while {doing}: {e}"),
        ),
    }
}

fn map_error(e: &(dyn std::error::Error + 'static), doing: &str) -> Error {
    let detail = chain(e);
    let store_error = e.downcast_ref::<object_store::Error>();
    let code = if detail.contains("NoSuchBucket") {
        ErrorCode::S3BucketMissing
    } else if detail.contains("InvalidStorageClass") {
        ErrorCode::S3StorageClassRejected
    } else if matches!(
        store_error,
        Some(
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        )
    ) || [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AccessDenied",
    ]
    .iter()
    .any(|c| detail.contains(c))
    {
        ErrorCode::S3AuthFailed
    } else if is_connect_failure(e) {
        ErrorCode::S3Unreachable
    } else {
        ErrorCode::StorageError
    };
    let message = match code {
        ErrorCode::S3BucketMissing => "The bucket does not exist (or this key cannot see it).".to_owned(),
        ErrorCode::S3StorageClassRejected => {
            "The server rejected the storage class; choose another one (e.g. STANDARD) for this target.".to_owned()
        }
        ErrorCode::S3AuthFailed => {
            "The server refused the access key or secret key (or they lack permission).".to_owned()
        }
        ErrorCode::S3Unreachable => "The storage server cannot be reached.".to_owned(),
        _ => String::new(),
    };
    let message = if message.is_empty() {
        format!("Storage failed while {doing}: {detail}")
    } else {
        format!("{message} ({doing}: {detail})")
    };
    Error::new(code, message)
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
            return matches!(http.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout);
        }
        source = s.source();
    }
    false
}
