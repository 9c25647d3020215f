//! The shell's image and container commands ([`ContainerEngine`]) on a [`ContainerManager`]:
//! the summaries the shell formats, from the manager's store and containers.

use alloc::{string::String, vec::Vec};

use super::{CommitError, ContainerManager};
use crate::error::{Errno, Result};
use crate::image::{Removal, StoreUsage};
use crate::shell::{
    CommitSummary, ContainerEngine, ContainerRoot, ContainerSummary, HistoryLine, ImageSummary,
};

/// The shell's image and container commands, on this manager.
impl ContainerEngine for ContainerManager {
    fn images(&self) -> Vec<ImageSummary> {
        let state = self.state.lock();
        let usage = state.store.usage();
        usage
            .images
            .into_iter()
            .map(|image| ImageSummary {
                name: image.name,
                layers: image.layers,
                size_bytes: image.total_bytes,
            })
            .collect()
    }

    fn history(&self, image: &str) -> Result<Vec<HistoryLine>> {
        let state = self.state.lock();
        let stored = state.store.image(image).ok_or(Errno::ENOENT)?;
        Ok(stored
            .history
            .iter()
            .rev()
            .map(|step| HistoryLine {
                size_bytes: step
                    .layer
                    .as_deref()
                    .and_then(|digest| state.store.layer(digest))
                    .map_or(0, |layer| layer.size),
                layer: step.layer.clone(),
                created_by: step.created_by.clone().unwrap_or_default(),
            })
            .collect())
    }

    fn disk_usage(&self) -> StoreUsage {
        self.usage()
    }

    fn containers(&self) -> Vec<ContainerSummary> {
        ContainerManager::containers(self)
            .into_iter()
            .map(|container| ContainerSummary {
                name: container.name,
                image: container.image,
                layers: container.layers,
                upper_bytes: container.upper_bytes,
            })
            .collect()
    }

    fn run(&self, image: &str, container: &str) -> Result<()> {
        ContainerManager::run(self, image, container).map(drop)
    }

    fn root(&self, container: &str) -> Result<ContainerRoot> {
        let union = self.container(container)?;
        Ok(ContainerRoot {
            filesystem: union.clone(),
            union,
        })
    }

    fn commit(
        &self,
        container: &str,
        image: &str,
    ) -> core::result::Result<CommitSummary, CommitError> {
        let commit = ContainerManager::commit(self, container, image)?;
        Ok(CommitSummary {
            image: commit.image,
            layer: commit.layer,
            size_bytes: commit.size,
        })
    }

    fn remove_image(&self, image: &str) -> Result<Removal> {
        ContainerManager::remove_image(self, image)
    }

    fn remove_container(&self, container: &str) -> Result<Vec<(String, u64)>> {
        ContainerManager::remove_container(self, container)
    }
}
