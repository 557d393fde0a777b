//! Finding things by the names people type (the CLI addresses everything by name).

use crate::applications::ApplicationTree;
use crate::context::Context;
use crate::environments::Environment;
use crate::error::{Error, ErrorCode, Result};
use crate::targets::StorageTarget;

impl Context {
    pub async fn application_named(&self, name: &str) -> Result<ApplicationTree> {
        self.list_applications()
            .await?
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("There is no application “{name}”."),
                )
            })
    }

    pub async fn environment_named(
        &self,
        application: &str,
        environment: &str,
    ) -> Result<Environment> {
        self.application_named(application)
            .await?
            .environments
            .into_iter()
            .find(|e| e.name.eq_ignore_ascii_case(environment.trim()))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("Application “{application}” has no environment “{environment}”."),
                )
            })
    }

    pub async fn target_named(&self, name: &str) -> Result<StorageTarget> {
        self.list_targets()
            .await?
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("There is no storage target “{name}”."),
                )
            })
    }
}
