//! Applications (e.g. "shop"): a named group of environments.

use crate::context::Context;
use crate::credentials::SecretRef;
use crate::error::Result;
pub use crate::model::setup::Application;
pub use crate::model::setup::ApplicationTree;
use crate::validation;

impl Context {
    pub async fn create_application(&self, name: &str) -> Result<Application> {
        let name = validation::name("name", name)?;
        self.catalog().insert_application(&name).await
    }

    pub async fn rename_application(&self, id: &str, name: &str) -> Result<Application> {
        let name = validation::name("name", name)?;
        self.catalog().rename_application(id, &name).await
    }

    pub async fn delete_application(&self, id: &str) -> Result<()> {
        self.catalog().application(id).await?;
        let environments = self.catalog().environments_of(id).await?;
        for env in &environments {
            crate::environments::refuse_if_busy(self, &env.id)?;
        }
        self.catalog().delete_application(id).await?;
        for env in environments {
            self.forget_secret(SecretRef::DatabasePassword {
                environment_id: env.id,
            })
            .await;
        }
        Ok(())
    }

    pub async fn list_applications(&self) -> Result<Vec<ApplicationTree>> {
        let applications = self.catalog().applications().await?;
        let mut environments = self.catalog().all_environments().await?;
        Ok(applications
            .into_iter()
            .map(|app| {
                let (mine, rest) = std::mem::take(&mut environments)
                    .into_iter()
                    .partition(|e| e.application_id == app.id);
                environments = rest;
                ApplicationTree {
                    id: app.id,
                    name: app.name,
                    created_at: app.created_at,
                    environments: mine,
                }
            })
            .collect())
    }
}
