//! A client's session (`POST /session`): the services the client exposes on the hijacked
//! connection, called by the daemon — `FileSync/DiffCopy` for the context and the Dockerfile
//! (fsutil's packet protocol: the client lists the files, the daemon asks for the contents it
//! wants, then both say FIN), and `Secrets/GetSecret`.

use std::collections::HashMap;

use http::uri::PathAndQuery;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Status;
use tonic::metadata::MetadataValue;

use crate::grpc::{self, H2};
use crate::proto::{
    GetSecretRequest, GetSecretResponse, PACKET_DATA, PACKET_ERR, PACKET_FIN, PACKET_REQ,
    PACKET_STAT, Packet, Stat,
};

pub const DIFF_COPY: &str = "/moby.filesync.v1.FileSync/DiffCopy";
pub const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";

/// One attached session: its connection and the methods it says it serves.
#[derive(Clone)]
pub struct Session {
    pub h2: H2,
    pub methods: Vec<String>,
}

impl Session {
    pub fn serves(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }
}

/// A file of a client's directory, with its content when it is a regular file.
pub struct Entry {
    pub stat: Stat,
    pub data: Vec<u8>,
}

// Go's os.FileMode bits (fsutil sends them as they are).
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;
const GO_IRREGULAR: u32 = 1 << 19;
const GO_TYPE: u32 =
    GO_DIR | GO_SYMLINK | GO_PIPE | GO_SOCKET | GO_DEVICE | GO_CHARDEV | GO_IRREGULAR;

/// A regular file (no type bits).
pub fn is_regular(mode: u32) -> bool {
    mode & GO_TYPE == 0
}

/// The Unix permission bits of a Go file mode.
pub fn unix_perm(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    if mode & GO_SETUID != 0 {
        m |= 0o4000;
    }
    if mode & GO_SETGID != 0 {
        m |= 0o2000;
    }
    if mode & GO_STICKY != 0 {
        m |= 0o1000;
    }
    m
}

/// Pattern lists travel as gRPC metadata; fsutil URL-encodes them when one is not ASCII and
/// says so with `<key>-encoded`.
fn put_list(md: &mut tonic::metadata::MetadataMap, key: &'static str, values: &[String]) {
    let encode = values
        .iter()
        .any(|v| !v.is_ascii() || v.contains(['\r', '\n']));
    for v in values {
        let v = if encode {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        } else {
            v.clone()
        };
        if let Ok(v) = MetadataValue::try_from(v.as_str()) {
            md.append(key, v);
        }
    }
    if encode {
        let k: &'static str = match key {
            "include-patterns" => "include-patterns-encoded",
            "exclude-patterns" => "exclude-patterns-encoded",
            _ => "followpaths-encoded",
        };
        md.insert(k, MetadataValue::from_static("1"));
    }
}

/// Receive the client's directory `dir` (filtered by the patterns, as fsutil filters),
/// contents and all. `limit` bounds the bytes taken.
pub async fn diff_copy(
    s: &Session,
    dir: &str,
    include: &[String],
    exclude: &[String],
    limit: u64,
) -> Result<Vec<Entry>, Status> {
    if !s.serves(DIFF_COPY) {
        return Err(Status::failed_precondition(
            "the client's session does not share local files (no FileSync/DiffCopy)",
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Packet>();
    let mut req = tonic::Request::new(UnboundedReceiverStream::new(rx));
    let md = req.metadata_mut();
    md.insert(
        "dir-name",
        MetadataValue::try_from(dir).map_err(|_| Status::invalid_argument("bad dir name"))?,
    );
    if !include.is_empty() {
        put_list(md, "include-patterns", include);
    }
    if !exclude.is_empty() {
        put_list(md, "exclude-patterns", exclude);
    }
    let mut g = grpc::client(&s.h2);
    g.ready()
        .await
        .map_err(|e| Status::unavailable(format!("session: {e}")))?;
    let mut stream = g
        .streaming(
            req,
            PathAndQuery::from_static(DIFF_COPY),
            grpc::codec::<Packet, Packet>(),
        )
        .await?
        .into_inner();
    let mut entries: Vec<Entry> = Vec::new();
    let mut pending: HashMap<u32, usize> = HashMap::new();
    let mut listed = false;
    let mut fin_sent = false;
    let mut taken: u64 = 0;
    loop {
        let Some(p) = stream.message().await? else {
            if fin_sent {
                break;
            }
            return Err(Status::unavailable(format!(
                "the client closed the transfer of {dir:?} early"
            )));
        };
        match p.r#type {
            PACKET_STAT => match p.stat {
                Some(st) if !st.path.is_empty() => {
                    let id = entries.len() as u32;
                    if is_regular(st.mode) && st.linkname.is_empty() && st.size > 0 {
                        taken += st.size as u64;
                        if taken > limit {
                            return Err(Status::resource_exhausted(format!(
                                "the build context is larger than the daemon's limit for contexts ({} MiB): leave files out with .dockerignore",
                                limit >> 20
                            )));
                        }
                        pending.insert(id, entries.len());
                        let _ = tx.send(Packet {
                            r#type: PACKET_REQ,
                            id,
                            ..Default::default()
                        });
                    }
                    entries.push(Entry {
                        stat: st,
                        data: Vec::new(),
                    });
                }
                _ => listed = true,
            },
            PACKET_DATA => {
                if p.data.is_empty() {
                    pending.remove(&p.id);
                } else if let Some(i) = pending.get(&p.id) {
                    entries[*i].data.extend_from_slice(&p.data);
                } else {
                    return Err(Status::data_loss(format!(
                        "the client sent data for a file not asked for ({})",
                        p.id
                    )));
                }
            }
            PACKET_FIN => break,
            PACKET_ERR => {
                return Err(Status::unavailable(format!(
                    "the client could not send {dir:?}: {}",
                    String::from_utf8_lossy(&p.data)
                )));
            }
            _ => {}
        }
        if listed && pending.is_empty() && !fin_sent {
            let _ = tx.send(Packet {
                r#type: PACKET_FIN,
                ..Default::default()
            });
            fin_sent = true;
        }
    }
    drop(tx);
    Ok(entries)
}

/// A secret the client holds, `None` when it has none of that id.
pub async fn secret(s: &Session, id: &str) -> Result<Option<Vec<u8>>, Status> {
    if !s.serves(GET_SECRET) {
        return Ok(None);
    }
    let mut g = grpc::client(&s.h2);
    g.ready()
        .await
        .map_err(|e| Status::unavailable(format!("session: {e}")))?;
    match g
        .unary(
            tonic::Request::new(GetSecretRequest { id: id.to_owned() }),
            PathAndQuery::from_static(GET_SECRET),
            grpc::codec::<GetSecretRequest, GetSecretResponse>(),
        )
        .await
    {
        Ok(r) => Ok(Some(r.into_inner().data)),
        Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries (and extra regular files) as one tar, in the order the client listed them.
pub fn to_tar(entries: &[Entry], extra: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let st = &e.stat;
        let mut h = tar::Header::new_gnu();
        h.set_mode(unix_perm(st.mode));
        h.set_uid(st.uid.into());
        h.set_gid(st.gid.into());
        h.set_mtime((st.mod_time / 1_000_000_000).max(0) as u64);
        h.set_size(0);
        let path = st.path.trim_start_matches('/');
        if st.mode & GO_DIR != 0 {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, path, std::io::empty())?;
        } else if st.mode & GO_SYMLINK != 0 {
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, path, &st.linkname)?;
        } else if is_regular(st.mode) && !st.linkname.is_empty() {
            h.set_entry_type(tar::EntryType::Link);
            b.append_link(&mut h, path, st.linkname.trim_start_matches('/'))?;
        } else if is_regular(st.mode) {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(e.data.len() as u64);
            b.append_data(&mut h, path, e.data.as_slice())?;
        } else if st.mode & GO_PIPE != 0 {
            h.set_entry_type(tar::EntryType::Fifo);
            b.append_data(&mut h, path, std::io::empty())?;
        } else if st.mode & GO_DEVICE != 0 {
            h.set_entry_type(if st.mode & GO_CHARDEV != 0 {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            h.set_device_major(st.devmajor as u32)?;
            h.set_device_minor(st.devminor as u32)?;
            b.append_data(&mut h, path, std::io::empty())?;
        }
        // Sockets and irregular files are not part of a context.
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice())?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, mode: u32, linkname: &str) -> Stat {
        Stat {
            path: path.into(),
            mode,
            linkname: linkname.into(),
            mod_time: 1_700_000_000_000_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn go_file_modes_become_tar_entries() {
        let entries = vec![
            Entry {
                stat: stat("d", GO_DIR | 0o755, ""),
                data: vec![],
            },
            Entry {
                stat: stat("d/f", 0o644 | GO_SETUID, ""),
                data: b"hello".to_vec(),
            },
            Entry {
                stat: stat("l", GO_SYMLINK | 0o777, "d/f"),
                data: vec![],
            },
            Entry {
                stat: stat("h", 0o644, "d/f"),
                data: vec![],
            },
        ];
        let t = to_tar(&entries, &[("x".into(), b"1".to_vec())]).expect("tar");
        let mut a = tar::Archive::new(t.as_slice());
        let got: Vec<(String, tar::EntryType, u32)> = a
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").display().to_string(),
                    e.header().entry_type(),
                    e.header().mode().expect("mode"),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("d".into(), tar::EntryType::Directory, 0o755),
                ("d/f".into(), tar::EntryType::Regular, 0o4644),
                ("l".into(), tar::EntryType::Symlink, 0o777),
                ("h".into(), tar::EntryType::Link, 0o644),
                ("x".into(), tar::EntryType::Regular, 0o644),
            ]
        );
    }
}
