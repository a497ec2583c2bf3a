//! Entities (`tracehound cluster`) as the front ends show them: by entity id or by a member
//! address, each chain's clustering loaded once and reloaded when re-clustered.

use std::sync::Arc;

use tracehound_cluster::{Clustering, EntityView};
use tracehound_core::{Address, Chain};
use tracehound_store::Store;

use crate::{AppError, DataDir};

impl DataDir {
    /// `chain`'s clustering, loaded once and shared; reloaded when the file was rewritten.
    pub fn clustering(&self, store: &Store, chain: Chain) -> Result<Arc<Clustering>, AppError> {
        let path = Clustering::path_in(&self.root, chain);
        let Some(file) = crate::file_id(&path) else {
            return Err(AppError::NotFound(format!(
                "{chain} is not clustered: run `tracehound cluster --chain {chain}`"
            )));
        };
        let mut held = self.clusterings.lock().unwrap_or_else(|e| e.into_inner());
        let loaded = match held.get(&chain) {
            Some((was, c)) if *was == file => Arc::clone(c),
            _ => {
                let c = Arc::new(Clustering::load(&path)?);
                held.insert(chain, (file, Arc::clone(&c)));
                c
            }
        };
        drop(held);
        // Address ids are only stable while the chain only grows.
        if crate::clustered_extent(store, chain)? < loaded.scanned {
            return Err(AppError::Invalid(format!(
                "the clustering of {chain} covers more than the store now holds (it was unwound since): re-run `tracehound cluster --chain {chain}`"
            )));
        }
        Ok(loaded)
    }

    /// The entity `which` names on `chain`: an entity id, or an address (its entity, with
    /// the evidence path from it); its first `limit` members with labels, and its evidence.
    pub fn entity(
        &self,
        store: &Store,
        chain: Chain,
        which: &str,
        limit: usize,
    ) -> Result<EntityView, AppError> {
        let clustering = self.clustering(store, chain)?;
        let (entity, address) = match which.parse::<u32>() {
            Ok(id) => (Some(id), None),
            Err(_) => {
                let a = Address::parse(chain, which).map_err(|e| {
                    AppError::Invalid(format!(
                        "{which:?} is neither an entity id nor a {chain} address: {e}"
                    ))
                })?;
                let id = tracehound_cluster::store::address_id(store, &a)?.ok_or_else(|| {
                    AppError::NotFound(format!("{} has never appeared on {chain}", a.as_str()))
                })?;
                (None, Some(id))
            }
        };
        let labels = self.label_store()?;
        tracehound_cluster::describe(
            store,
            labels.as_deref(),
            &clustering,
            entity,
            address,
            limit,
        )
        .map_err(|e| match e {
            tracehound_cluster::ClusterError::Input(m) => AppError::NotFound(m),
            other => AppError::from(other),
        })
    }

    /// The entity id of `address`, if its chain is clustered and it is in the clustering.
    pub fn entity_of(&self, store: &Store, address: &Address) -> Result<Option<u32>, AppError> {
        let chain = address.chain();
        if crate::file_id(&Clustering::path_in(&self.root, chain)).is_none() {
            return Ok(None);
        }
        let clustering = match self.clustering(store, chain) {
            Ok(c) => c,
            Err(AppError::Invalid(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = tracehound_cluster::store::address_id(store, address)?;
        Ok(id.and_then(|i| clustering.entity_of(i)))
    }
}
