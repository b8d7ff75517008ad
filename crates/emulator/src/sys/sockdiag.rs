//! Established TCP sockets of this network namespace, by inode, through the kernel's
//! `sock_diag` netlink interface (`ss` uses it): the kernel filters by state and answers in
//! binary, which costs a small fraction of rendering `/proc/net/tcp` as text on a busy machine.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const TCP_ESTABLISHED: u32 = 1;
const INET_DIAG_INFO: u16 = 2;

/// An established connection: `local -> remote`, the remote port, and its socket id (family
/// and the `inet_diag_sockid` bytes) for exact lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connection {
    pub(crate) text: String,
    /// The remote end, `address:port`.
    pub(crate) peer: String,
    pub(crate) remote_port: u16,
    family: u8,
    id: [u8; 48],
}

impl Connection {
    /// A connection read from `/proc/net/tcp` (no netlink: it cannot be looked up again).
    pub(crate) fn from_proc(text: String, remote_port: u16) -> Self {
        let peer = text.rsplit(" -> ").next().unwrap_or_default().to_owned();
        Self {
            text,
            peer,
            remote_port,
            family: 0,
            id: [0; 48],
        }
    }
}

/// Established TCP sockets (IPv4 and IPv6) by inode; `None` if netlink is not available.
pub(crate) fn established() -> Option<HashMap<u32, Connection>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    let mut found = HashMap::new();
    for family in [libc_af_inet(), libc_af_inet6()] {
        sendto(
            fd.as_raw_fd(),
            &request(family),
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .ok()?;
        let mut buf = vec![0u8; 64 * 1024];
        'dump: loop {
            let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
            if n == 0 {
                break;
            }
            let mut at = 0;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().ok()?);
                if len < 16 || at + len > n {
                    break 'dump;
                }
                match kind {
                    NLMSG_DONE => break 'dump,
                    NLMSG_ERROR => return None,
                    SOCK_DIAG_BY_FAMILY => {
                        if let Some((inode, conn)) = parse(&buf[at + 16..at + len]) {
                            found.insert(inode, conn);
                        }
                    }
                    _ => {}
                }
                at += (len + 3) & !3;
            }
        }
    }
    Some(found)
}

fn libc_af_inet() -> u8 {
    AddressFamily::Inet as i32 as u8
}

fn libc_af_inet6() -> u8 {
    AddressFamily::Inet6 as i32 as u8
}

/// If the socket `inode` is still the established connection `conn`, how many bytes of data it
/// has had acknowledged (`tcpi_bytes_acked`); `None` when it is closing or gone.
pub(crate) fn still_established(
    fd: &std::os::fd::OwnedFd,
    conn: &Connection,
    inode: u32,
) -> Option<u64> {
    let s = lookup(fd, conn)?;
    (s.established && s.inode == inode).then_some(s.acked)
}

/// A connection's socket as the kernel has it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketNow {
    pub(crate) inode: u32,
    pub(crate) established: bool,
    /// Data bytes acknowledged by the peer (`tcpi_bytes_acked`).
    pub(crate) acked: u64,
    /// Data bytes the process has handed to the socket so far: sent once
    /// (`tcpi_bytes_sent - tcpi_bytes_retrans`) plus still queued (`tcpi_notsent_bytes`).
    /// `None` on kernels older than 4.19, whose `tcp_info` lacks the counters.
    pub(crate) written: Option<u64>,
}

/// The socket of `conn`, in whatever state it is (the answer says which); `None` when there is
/// no such socket any more. An exact lookup by addresses and ports: a hash lookup in the
/// kernel, not a walk of every socket.
pub(crate) fn lookup(fd: &std::os::fd::OwnedFd, conn: &Connection) -> Option<SocketNow> {
    let mut m = Vec::with_capacity(72);
    m.extend_from_slice(&72u32.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&2u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(conn.family);
    m.push(6);
    m.push(1 << (INET_DIAG_INFO - 1)); // with struct tcp_info
    m.push(0);
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // any state: the answer says which
    let mut id = conn.id;
    id[40..48].copy_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    m.extend_from_slice(&id);
    sendto(
        fd.as_raw_fd(),
        &m,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 2048];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
    if n < 16 + 72 || u16::from_ne_bytes([buf[4], buf[5]]) != SOCK_DIAG_BY_FAMILY {
        return None; // NLMSG_ERROR: no such socket any more
    }
    let len = (u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize).min(n);
    let msg = &buf[16..len];
    let mut now = SocketNow {
        inode: u32::from_ne_bytes(msg[68..72].try_into().ok()?),
        established: msg[1] == TCP_ESTABLISHED as u8,
        acked: 0,
        written: None,
    };
    // Attributes follow the message; INET_DIAG_INFO holds struct tcp_info: tcpi_bytes_acked
    // at offset 120 (Linux 4.1+), tcpi_notsent_bytes at 144, tcpi_bytes_sent at 200 and
    // tcpi_bytes_retrans at 208 (Linux 4.19+).
    let mut at = 72;
    while at + 4 <= msg.len() {
        let alen = u16::from_ne_bytes([msg[at], msg[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]);
        if alen < 4 || at + alen > msg.len() {
            break;
        }
        if kind == INET_DIAG_INFO {
            let info = &msg[at + 4..at + alen];
            let u64_at = |o: usize| -> Option<u64> {
                Some(u64::from_ne_bytes(info.get(o..o + 8)?.try_into().ok()?))
            };
            let u32_at = |o: usize| -> Option<u64> {
                Some(u32::from_ne_bytes(info.get(o..o + 4)?.try_into().ok()?).into())
            };
            now.acked = u64_at(120).unwrap_or(0);
            now.written = (|| {
                let sent = u64_at(200)?.checked_sub(u64_at(208)?)?;
                Some(sent + u32_at(144)?)
            })();
        }
        at += (alen + 3) & !3;
    }
    Some(now)
}

/// A netlink socket for [`still_established`].
pub(crate) fn open() -> Option<std::os::fd::OwnedFd> {
    socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()
}

/// `nlmsghdr` + `inet_diag_req_v2` asking for every established TCP socket of `family`.
fn request(family: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(72);
    m.extend_from_slice(&72u32.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    m.push(family);
    m.push(6); // IPPROTO_TCP
    m.push(0); // no extensions
    m.push(0);
    m.extend_from_slice(&(1u32 << TCP_ESTABLISHED).to_ne_bytes());
    m.extend_from_slice(&[0u8; 48]); // any socket id
    m
}

/// An `inet_diag_msg`: (inode, connection).
fn parse(msg: &[u8]) -> Option<(u32, Connection)> {
    if msg.len() < 72 {
        return None;
    }
    let family = msg[0];
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    let addr = |b: &[u8]| -> String {
        if family == libc_af_inet() {
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
        } else {
            let words: Vec<String> = b
                .chunks(2)
                .map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]])))
                .collect();
            format!("[{}]", words.join(":"))
        }
    };
    let inode = u32::from_ne_bytes(msg[68..72].try_into().ok()?);
    let peer = format!("{}:{dport}", addr(&msg[24..40]));
    let text = format!("{}:{sport} -> {peer}", addr(&msg[8..24]));
    let mut id = [0u8; 48];
    id.copy_from_slice(&msg[4..52]);
    Some((
        inode,
        Connection {
            text,
            peer,
            remote_port: dport,
            family,
            id,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_a_loopback_connection_with_its_inode() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let all = established().expect("sock_diag available");
        assert!(all.values().any(|c| c.remote_port == port && c.text.ends_with(&format!("-> 127.0.0.1:{port}"))), "{all:?}");
    }
}
