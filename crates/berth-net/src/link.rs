//! Links, addresses and routes over rtnetlink: bridges, veth pairs, moving an end into a
//! container's namespace and configuring it there. Each call runs on a thread of its own
//! (entered into a namespace when asked) with a small runtime for the netlink connection,
//! so callers stay synchronous and the daemon's threads never change namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::{Result, kernel};

/// Run `f` with a netlink handle, in the namespace at `netns` if given.
pub(crate) fn with_netlink<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    let run = move || -> Result<T> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| kernel("netlink runtime", e))?;
        rt.block_on(async move {
            // The socket belongs to the namespace of the thread that opens it.
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| kernel("netlink", e))?;
            tokio::spawn(conn);
            f(handle).await
        })
    };
    match netns {
        Some(p) => crate::netns::run_in(p, run),
        None => std::thread::spawn(run)
            .join()
            .unwrap_or_else(|_| Err(kernel("netlink", "the thread panicked"))),
    }
}

fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    }
}

pub(crate) async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut links = h.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(Some(l.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == libc::ENODEV => Ok(None),
        Err(e) => Err(kernel(format!("link {name}"), e)),
    }
}

async fn add_addr(h: &Handle, index: u32, ip: Ipv4Addr, prefix: u8, what: &str) -> Result<()> {
    add_ip(h, index, IpAddr::V4(ip), prefix, what).await
}

/// An address (IPv6 ones without duplicate address detection: usable at once instead of
/// "tentative" for a second or two; the subnet is the network's alone).
async fn add_ip(h: &Handle, index: u32, ip: IpAddr, prefix: u8, what: &str) -> Result<()> {
    use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
    let mut req = h.address().add(index, ip, prefix);
    if ip.is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Err(e) if errno(&e) != libc::EEXIST => {
            Err(kernel(format!("address {ip}/{prefix} on {what}"), e))
        }
        _ => Ok(()),
    }
}

/// A bridge named `name` with `gateway/prefix`, up (made if missing; idempotent).
pub fn ensure_bridge(
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    v6: Option<(std::net::Ipv6Addr, u8)>,
    mtu: Option<u32>,
) -> Result<()> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        let index = match index_of(&h, &name).await? {
            Some(i) => i,
            None => {
                let mut b = LinkBridge::new(&name);
                if let Some(m) = mtu {
                    b = b.mtu(m);
                }
                match h.link().add(b.build()).execute().await {
                    Err(e) if errno(&e) != libc::EEXIST => {
                        return Err(kernel(format!("create bridge {name}"), e));
                    }
                    _ => {}
                }
                index_of(&h, &name)
                    .await?
                    .ok_or_else(|| kernel(format!("bridge {name}"), "missing after creation"))?
            }
        };
        add_addr(&h, index, gateway, prefix, &name).await?;
        if let Some((g6, p6)) = v6 {
            add_ip(&h, index, IpAddr::V6(g6), p6, &name).await?;
        }
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| kernel(format!("set {name} up"), e))
    })
}

/// Does a link of this name exist (in the current namespace)?
pub fn exists(name: &str) -> Result<bool> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        Ok(index_of(&h, &name).await?.is_some())
    })
}

/// Delete a link (missing is fine).
pub fn delete(name: &str) -> Result<()> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        let Some(index) = index_of(&h, &name).await? else {
            return Ok(());
        };
        match h.link().del(index).execute().await {
            Err(e) if errno(&e) != libc::ENODEV => Err(kernel(format!("delete {name}"), e)),
            _ => Ok(()),
        }
    })
}

/// One end of a container's connection to a bridge.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The host-side veth name (≤ 15 bytes).
    pub host_if: String,
    /// The name inside the container (`eth0`, `eth1`, …).
    pub if_name: String,
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: [u8; 6],
    /// The default route's gateway (none for internal networks or further interfaces).
    pub gateway: Option<Ipv4Addr>,
    /// An IPv6 address and prefix, and the IPv6 default route's gateway.
    pub ip6: Option<(std::net::Ipv6Addr, u8)>,
    pub gateway6: Option<std::net::Ipv6Addr>,
    pub mtu: Option<u32>,
}

/// Connect the namespace at `netns` to `ep.bridge`: a veth pair made with its container end
/// already in the namespace (named and addressed there: moving a device between namespaces
/// waits ~20 ms for RCU), the host end joined to the bridge, then the container end addressed,
/// up, and routed. Loopback in the namespace comes up too.
pub fn attach(netns: &Path, ep: &Endpoint) -> Result<()> {
    use rtnetlink::LinkMessageBuilder;
    use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
    let ns_file =
        std::fs::File::open(netns).map_err(|e| kernel(format!("open {}", netns.display()), e))?;
    let e = ep.clone();
    with_netlink(None, move |h| async move {
        let bridge = index_of(&h, &e.bridge)
            .await?
            .ok_or_else(|| kernel(format!("bridge {}", e.bridge), "no such device"))?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(e.if_name.clone())
            .address(e.mac.to_vec())
            .setns_by_fd(std::os::fd::AsRawFd::as_raw_fd(&ns_file))
            .build();
        let mut veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(e.host_if.clone())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .controller(bridge)
            .up();
        if let Some(m) = e.mtu {
            veth = veth.mtu(m);
        }
        h.link()
            .add(veth.build())
            .execute()
            .await
            .map_err(|err| kernel(format!("create veth {}", e.host_if), err))
    })?;
    let e = ep.clone();
    let inside = with_netlink(Some(netns), move |h| async move {
        if let Some(lo) = index_of(&h, "lo").await? {
            h.link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(|err| kernel("set lo up", err))?;
        }
        let idx = index_of(&h, &e.if_name)
            .await?
            .ok_or_else(|| kernel(&e.if_name, "missing in the container"))?;
        add_addr(&h, idx, e.ip, e.prefix, &e.if_name).await?;
        if let Some((ip6, p6)) = e.ip6 {
            add_ip(&h, idx, IpAddr::V6(ip6), p6, &e.if_name).await?;
        }
        h.link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|err| kernel(format!("set {} up", e.if_name), err))?;
        let gateways = [e.gateway.map(IpAddr::V4), e.gateway6.map(IpAddr::V6)];
        for gw in gateways.into_iter().flatten() {
            let route = match gw {
                IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(g)
                    .output_interface(idx)
                    .build(),
                IpAddr::V6(g) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                    .gateway(g)
                    .output_interface(idx)
                    .build(),
            };
            h.route()
                .add(route)
                .execute()
                .await
                .map_err(|err| kernel(format!("default route via {gw}"), err))?;
        }
        Ok(())
    });
    if inside.is_err() {
        let _ = delete(&ep.host_if);
    }
    inside
}

/// Bring loopback up in a namespace (for `--network none`).
pub fn loopback_up(netns: &Path) -> Result<()> {
    with_netlink(Some(netns), |h| async move {
        if let Some(lo) = index_of(&h, "lo").await? {
            h.link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(|err| kernel("set lo up", err))?;
        }
        Ok(())
    })
}

/// Remove an interface from a container's namespace (`network disconnect`).
pub fn detach(netns: &Path, if_name: &str) -> Result<()> {
    let name = if_name.to_owned();
    with_netlink(Some(netns), move |h| async move {
        if let Some(i) = index_of(&h, &name).await? {
            h.link()
                .del(i)
                .execute()
                .await
                .map_err(|err| kernel(format!("delete {name}"), err))?;
        }
        Ok(())
    })
}
