//! What a process tree holds, read from `/proc`: established TCP connections, files open for
//! writing, and child processes. `grace check` uses it to tell what a runtime leaves behind when
//! it exits or is killed (connections cut mid-session, unflushed files, orphans).

use std::collections::HashMap;

use super::Pid;
use super::sockdiag::Connection;

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

/// Reads what one process tree holds: its descriptor tables from `/proc`, and whether each of
/// its TCP connections is still established. The connections are learnt once, when the
/// inspector is made (a dump of the namespace's sockets, which costs up to a millisecond on a
/// busy machine); each reading then checks them by exact lookup (microseconds), so a
/// connection whose goodbye was exchanged counts as closed even while its descriptor stays
/// open until the exit. Without netlink, `/proc/net/tcp` as read at the start is used.
#[derive(Debug)]
pub(crate) struct Inspector {
    pid: Pid,
    connections: HashMap<u32, Connection>,
    netlink: Option<std::os::fd::OwnedFd>,
    ignore_port: u16,
}

impl Inspector {
    /// An inspector of `pid` and its descendants; TCP connections to `ignore_port` (the Runtime
    /// API, which the platform itself keeps open) are left out.
    pub(crate) fn new(pid: Pid, ignore_port: u16) -> Self {
        let (connections, netlink) = match (super::sockdiag::established(), super::sockdiag::open())
        {
            (Some(all), Some(fd)) => (all, Some(fd)),
            _ => (tcp_table(pid), None),
        };
        let connections = connections
            .into_iter()
            .filter(|(_, c)| c.remote_port != ignore_port)
            .collect();
        Self {
            pid,
            connections,
            netlink,
            ignore_port,
        }
    }

    /// The established connections known when the inspector was made, by socket inode
    /// (without the ignored port).
    pub(crate) fn known(&self) -> &HashMap<u32, Connection> {
        &self.connections
    }

    /// The socket of `conn` as the kernel has it now; `None` without netlink or when gone.
    pub(crate) fn socket_now(&self, conn: &Connection) -> Option<super::sockdiag::SocketNow> {
        super::sockdiag::lookup(self.netlink.as_ref()?, conn)
    }

    /// What the tree holds now; `None` if the process is gone or has begun to exit (its
    /// descriptors are being closed, so the reading would be meaningless). A connection counts
    /// while its descriptor is open and it is still established.
    pub(crate) fn sample(&self) -> Option<Holdings> {
        let mut still = |inode: u32, c: &Connection| match &self.netlink {
            Some(fd) => super::sockdiag::still_established(fd, c, inode).is_some(),
            None => true,
        };
        holdings(self.pid, self.ignore_port, &self.connections, &mut still)
    }
}

fn holdings(
    pid: Pid,
    ignore_port: u16,
    connections: &HashMap<u32, Connection>,
    still: &mut dyn FnMut(u32, &Connection) -> bool,
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
                if let Ok(inode) = inode.parse::<u32>() {
                    sockets.push(inode);
                }
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
    // Checked after the descriptors were read: if the exit had begun, the kernel may have been
    // closing them while we read, and the reading is not what the process left open.
    if exiting(pid) {
        return None;
    }
    let mut tcp: Vec<String> = sockets
        .iter()
        .filter_map(|inode| connections.get(inode).map(|c| (*inode, c)))
        .filter(|(inode, c)| c.remote_port != ignore_port && still(*inode, c))
        .map(|(_, c)| c.text.clone())
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

/// Whether `pid` is gone, a zombie, or has begun to exit (`PF_EXITING` in its flags).
fn exiting(pid: Pid) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return true;
    };
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // state ppid pgrp session tty_nr tpgid flags …
    let state = fields.first().and_then(|s| s.chars().next());
    let flags = fields
        .get(6)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(PF_EXITING);
    matches!(state, None | Some('Z' | 'X')) || flags & PF_EXITING != 0
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

/// Established connections of the process's network namespace, from `/proc/PID/net/tcp*`.
fn tcp_table(pid: Pid) -> HashMap<u32, Connection> {
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
            if let Ok(inode) = f[9].parse::<u32>() {
                let text = format!("{} -> {}", local.0, remote.0);
                map.insert(inode, Connection::from_proc(text, remote.1));
            }
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

#[cfg(test)]
mod timing {
    #[test]
    #[ignore = "measurement"]
    fn sample_cost() {
        let i = super::Inspector::new(std::process::id(), 0);
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            let _ = i.sample();
        }
        eprintln!("one sample: {:?}", t.elapsed() / 1000);
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            let _ = super::super::sockdiag::established();
        }
        eprintln!("one sock_diag dump: {:?}", t.elapsed() / 1000);
    }
}
