//! What a process tree holds, read from `/proc`: established TCP connections, files open for
//! writing, and child processes. `grace check` uses it to tell what a runtime leaves behind when
//! it exits or is killed (connections cut mid-session, unflushed files, orphans).

use std::collections::HashMap;

use super::Pid;

/// What a process tree holds at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Holdings {
    /// Established TCP connections, `local -> remote`.
    pub tcp: Vec<String>,
    /// Regular files open for writing.
    pub files: Vec<String>,
    /// Descendant processes, `pid command`.
    pub children: Vec<String>,
}

/// Reads what one process tree holds. The TCP table of the network namespace is read once, when
/// the inspector is made (it costs milliseconds on a busy machine); [`Inspector::sample`] then
/// only reads the tree's descriptor tables, which is cheap enough to repeat every millisecond.
#[derive(Debug)]
pub(crate) struct Inspector {
    pid: Pid,
    connections: HashMap<String, (String, u16, u16)>,
    ignore_port: u16,
}

impl Inspector {
    /// An inspector of `pid` and its descendants; TCP connections to `ignore_port` (the Runtime
    /// API, which the platform itself keeps open) are left out.
    pub(crate) fn new(pid: Pid, ignore_port: u16) -> Self {
        Self {
            pid,
            connections: tcp_table(pid),
            ignore_port,
        }
    }

    /// What the tree holds now; `None` if the process is gone or a zombie (its descriptors are
    /// already closed, so the reading would be meaningless).
    pub(crate) fn sample(&self) -> Option<Holdings> {
        holdings(self.pid, self.ignore_port, &self.connections)
    }
}

fn holdings(
    pid: Pid,
    ignore_port: u16,
    connections: &HashMap<String, (String, u16, u16)>,
) -> Option<Holdings> {
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() && tree.len() < 256 {
        let p = tree[i];
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            tree.extend(
                children
                    .split_ascii_whitespace()
                    .filter_map(|c| c.parse::<Pid>().ok()),
            );
        }
        i += 1;
    }
    let mut sockets = Vec::new();
    let mut files = Vec::new();
    for &p in &tree {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{p}/fd")) else {
            if p == pid {
                return None;
            }
            continue;
        };
        for entry in entries.flatten() {
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                sockets.push(inode.to_owned());
            } else if target.starts_with('/')
                && !target.starts_with("/dev/")
                && !target.starts_with("/proc/")
            {
                let fd = entry.file_name().to_string_lossy().into_owned();
                if writable(p, &fd) && !files.contains(&target) {
                    files.push(target);
                }
            }
        }
    }
    if matches!(super::proc_state(pid), None | Some('Z') | Some('X')) {
        return None;
    }
    let mut tcp: Vec<String> = sockets
        .iter()
        .filter_map(|inode| connections.get(inode))
        .filter(|(_, remote_port, _)| *remote_port != ignore_port)
        .map(|(text, _, _)| text.clone())
        .collect();
    tcp.sort();
    tcp.dedup();
    files.sort();
    let children = tree[1..]
        .iter()
        .filter(|p| !matches!(super::proc_state(**p), None | Some('Z') | Some('X')))
        .map(|p| {
            let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
            format!("{p} {}", cmd.replace('\0', " ").trim())
        })
        .collect();
    Some(Holdings {
        tcp,
        files,
        children,
    })
}

/// Whether descriptor `fd` of `pid` was opened for writing (`O_WRONLY` or `O_RDWR`).
fn writable(pid: Pid, fd: &str) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 != 0)
}

/// Established connections of the process's network namespace: inode → (text, remote port,
/// local port).
fn tcp_table(pid: Pid) -> HashMap<String, (String, u16, u16)> {
    let mut map = HashMap::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "01" {
                continue;
            }
            let (Some(local), Some(remote)) = (endpoint(f[1]), endpoint(f[2])) else {
                continue;
            };
            map.insert(
                f[9].to_owned(),
                (format!("{} -> {}", local.0, remote.0), remote.1, local.1),
            );
        }
    }
    map
}

/// `0100007F:1F90` → (`127.0.0.1:8080`, 8080); IPv6 entries are shown in hex groups.
fn endpoint(field: &str) -> Option<(String, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let text = if addr.len() == 8 {
        let n = u32::from_str_radix(addr, 16).ok()?;
        let b = n.to_le_bytes();
        format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3])
    } else {
        format!("[{addr}]:{port}")
    };
    Some((text, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_endpoints() {
        assert_eq!(
            endpoint("0100007F:1F90"),
            Some(("127.0.0.1:8080".to_owned(), 8080))
        );
        assert_eq!(endpoint("bogus"), None);
    }

    #[test]
    fn sees_own_connection_and_writable_file() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let path = std::env::temp_dir().join(format!("inspect-{}", std::process::id()));
        let _file = std::fs::File::create(&path).unwrap();
        let h = Inspector::new(std::process::id(), 0).sample().unwrap();
        assert!(
            h.tcp
                .iter()
                .any(|c| c.ends_with(&format!("-> 127.0.0.1:{port}"))),
            "{h:?}"
        );
        assert!(h.files.iter().any(|f| f == path.to_str().unwrap()), "{h:?}");
        // The ignored port is left out.
        let h = Inspector::new(std::process::id(), port).sample().unwrap();
        assert!(
            !h.tcp
                .iter()
                .any(|c| c.ends_with(&format!("-> 127.0.0.1:{port}"))),
            "{h:?}"
        );
        let _ = std::fs::remove_file(path);
    }
}
