//! `network connect` and `network disconnect`: a network joins (or leaves) the container's
//! configuration, and its running namespace at once.

use berth_models::network::EndpointSettings;

use super::Containers;
use crate::{Error, Result};

impl Containers {
    pub fn connect(&self, container: &str, network: &str, cfg: EndpointSettings) -> Result<()> {
        let id = self.resolve(container)?;
        let rec = self.record(&id)?;
        let net = self.networks.get(network)?;
        let mode = rec.network_mode().to_owned();
        if mode == "host" || net.name == "host" {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if mode == "none" || net.name == "none" || mode.starts_with("container:") {
            return Err(Error::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ));
        }
        let already = crate::networks::networks_of(&rec)
            .iter()
            .any(|n| self.networks.id_of(n).ok().as_deref() == Some(net.id.as_str()));
        if already {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.short_name(),
                net.name
            )));
        }
        if self.state_of(&rec).alive() {
            self.networks.connect_running(&id, &rec, &net.name, &cfg)?;
        }
        self.update_record(&id, |r| {
            r.networking_config
                .endpoints_config
                .insert(net.name.clone(), cfg);
            Some(())
        })?;
        Ok(())
    }

    pub fn disconnect(&self, container: &str, network: &str, _force: bool) -> Result<()> {
        let id = self.resolve(container)?;
        let rec = self.record(&id)?;
        let net = self.networks.get(network)?;
        let key = crate::networks::networks_of(&rec)
            .into_iter()
            .find(|n| self.networks.id_of(n).ok().as_deref() == Some(net.id.as_str()));
        let Some(key) = key else {
            return Err(Error::Forbidden(format!(
                "container {id} is not connected to network {}",
                net.name
            )));
        };
        if net.name == "host" {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if self.state_of(&rec).alive() {
            self.networks.disconnect_running(&id, &net.name)?;
        }
        self.update_record(&id, |r| {
            r.networking_config.endpoints_config.remove(&key);
            Some(())
        })?;
        Ok(())
    }
}
