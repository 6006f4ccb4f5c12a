//! Object stores on demand: `s3://`, `gs://` and `az://` URLs just work.
//!
//! DataFusion looks up an object store for every URL it reads. Its default
//! registry only knows the local file system, so a registry that builds a store
//! the first time a bucket is seen (with credentials and endpoints from the
//! usual environment variables: `AWS_*`, `GOOGLE_*`, `AZURE_*`) lets
//! `CREATE TABLE ... 'path' = 's3://...'`, `CREATE EXTERNAL TABLE ... LOCATION
//! 's3://...'` and `COPY ... TO 's3://...'` work without any set-up statement.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::multipart::MultipartStore;
use object_store::ObjectStore;
use url::Url;

/// An [`ObjectStoreRegistry`] that creates cloud stores from the environment
/// when they are first used, and otherwise behaves like DataFusion's default.
#[derive(Debug, Default)]
pub struct LazyObjectStoreRegistry {
    stores: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for LazyObjectStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let store = build_store(url)?;
        self.stores.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// Builds the store for `url`'s bucket from environment configuration.
fn build_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    writable_store(url).map(|(store, _)| store)
}

/// The store for `url`'s bucket, built from environment configuration as
/// for reading, with its multipart uploads: the filesystem sink writes a
/// file as one upload and makes it visible by completing the upload.
pub fn writable_store(url: &Url) -> Result<(Arc<dyn ObjectStore>, Arc<dyn MultipartStore>)> {
    fn both<S: ObjectStore + MultipartStore>(
        store: S,
    ) -> (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>) {
        let store = Arc::new(store);
        (Arc::clone(&store) as _, store as _)
    }
    let bucket = || format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let built = match url.scheme() {
        "s3" | "s3a" => AmazonS3Builder::from_env()
            .with_url(bucket())
            .build()
            .map(both),
        "gs" | "gcs" => GoogleCloudStorageBuilder::from_env()
            .with_url(bucket())
            .build()
            .map(both),
        "az" | "azure" | "abfs" | "abfss" => MicrosoftAzureBuilder::from_env()
            .with_url(bucket())
            .build()
            .map(both),
        other => {
            return Err(DataFusionError::Plan(format!(
                "no object store for '{url}': the '{other}' scheme is not supported; \
                 use a local path, file://, s3://, gs:// or az://"
            )))
        }
    };
    built.map_err(|e| {
        DataFusionError::External(
            format!(
                "cannot open object store {}: {e} (set its credentials and endpoint \
                 in the environment, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL)",
                bucket()
            )
            .into(),
        )
    })
}
