//! Berth's networking below the engine: network namespaces (`netns`), bridges, veth pairs,
//! addresses and routes over netlink (`link`), address management (`ipam`), the nftables
//! table `berth` (`firewall`), bandwidth limits (`tc`) and the embedded DNS server (`dns`).
//! The engine decides what should exist; this crate makes the kernel agree.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod tc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{ctx}: {msg}")]
    Kernel { ctx: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn kernel(ctx: impl Into<String>, e: impl std::fmt::Display) -> Error {
    Error::Kernel {
        ctx: ctx.into(),
        msg: e.to_string(),
    }
}
