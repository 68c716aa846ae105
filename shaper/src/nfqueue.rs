//! A minimal NFQUEUE client over a raw netlink socket: bind one queue, read
//! packets (id and bytes), give verdicts later and in any order.
//!
//! Only the packet id and its bytes are kept, so a held packet costs its own
//! size here (the kernel keeps the packet itself until the verdict). Wire
//! format (all numbers in attributes big-endian, netlink header native):
//!
//! ```text
//! nlmsghdr  { len u32, type u16 = 3 << 8 | msg, flags u16, seq u32, pid u32 }
//! nfgenmsg  { family u8, version u8 = 0, queue u16 (BE) }
//! nlattr*   { len u16, type u16, value, padding to 4 }
//! msg 0 PACKET  ← NFQA_PACKET_HDR(1) { id u32, hw_protocol u16, hook u8 },
//!                 NFQA_PAYLOAD(10)
//! msg 1 VERDICT → NFQA_VERDICT_HDR(2) { verdict u32, id u32 }, [NFQA_PAYLOAD]
//! msg 2 CONFIG  → NFQA_CFG_CMD(1) { cmd u8, pad u8, pf u16 },
//!                 NFQA_CFG_PARAMS(2) { copy_range u32, copy_mode u8 },
//!                 NFQA_CFG_QUEUE_MAXLEN(3) u32
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const MSG_PACKET: u16 = 0;
const MSG_VERDICT: u16 = 1;
const MSG_CONFIG: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;
const CFG_CMD: u16 = 1;
const CFG_PARAMS: u16 = 2;
const CFG_QUEUE_MAXLEN: u16 = 3;
const CMD_BIND: u8 = 1;
const CMD_UNBIND: u8 = 2;
const COPY_PACKET: u8 = 2;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NETLINK_NO_ENOBUFS: i32 = 5;
/// Largest packet copied to us: GSO packets are segmented by the kernel
/// before queueing (no `NFQA_CFG_F_GSO`), so this is one MTU at most.
const COPY_RANGE: u32 = 0xffff;
/// The socket's receive buffer: room for a burst of full-size packets.
const RCVBUF: i32 = 4 << 20;

/// How a packet leaves the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// One bound queue.
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
    num: u16,
    seq: u32,
    buf: Vec<u8>,
}

fn header(len: usize, msg: u16, flags: u16, seq: u32, queue: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(len.max(20));
    v.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
    v.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | msg).to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.push(libc::AF_UNSPEC as u8);
    v.push(0);
    v.extend_from_slice(&queue.to_be_bytes());
    v
}

fn attr(v: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    // Netlink attributes are at most 64 KiB; payloads are cut to COPY_RANGE.
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn finish(mut v: Vec<u8>) -> Vec<u8> {
    let len = v.len() as u32;
    v[..4].copy_from_slice(&len.to_ne_bytes());
    v
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Queue {
    /// Binds queue `num` in this network namespace, copying whole packets,
    /// with at most `max_len` packets waiting for a verdict (the kernel
    /// drops what comes beyond).
    pub fn bind(num: u16, max_len: u32) -> io::Result<Queue> {
        // SAFETY: plain socket calls on a descriptor we own.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        })?;
        // SAFETY: fd was just returned by socket().
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        })?;
        setsockopt(fd.as_raw_fd(), libc::SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)?;
        // FORCE needs CAP_NET_ADMIN, which binding a queue needs anyway.
        if setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            RCVBUF,
        )
        .is_err()
        {
            setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF)?;
        }
        let mut q = Queue {
            fd,
            num,
            seq: 0,
            buf: vec![0; COPY_RANGE as usize + 4096],
        };
        q.config(CFG_CMD, &[CMD_BIND, 0, 0, 0])?;
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(COPY_PACKET);
        q.config(CFG_PARAMS, &params)?;
        q.config(CFG_QUEUE_MAXLEN, &max_len.to_be_bytes())?;
        Ok(q)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one config attribute and waits for the kernel's answer.
    fn config(&mut self, kind: u16, value: &[u8]) -> io::Result<()> {
        self.seq += 1;
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        let mut v = header(32, MSG_CONFIG, flags, self.seq, self.num);
        attr(&mut v, kind, value);
        self.send(&finish(v))?;
        loop {
            let n = self.recv_raw(0)?;
            let mut at = 0;
            while let Some((kind, body, next)) = message(&self.buf[..n], at) {
                at = next;
                if kind == NLMSG_ERROR {
                    let code = body
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
            }
        }
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and addr are valid for the lengths given.
        cvt(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) as libc::c_int
        })?;
        Ok(())
    }

    fn recv_raw(&mut self, flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: buf is valid for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                flags,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Reads what is waiting without blocking, calling `on_packet(id,
    /// bytes)` for each packet. Answers false when nothing was waiting.
    pub fn drain(&mut self, mut on_packet: impl FnMut(u32, &[u8])) -> io::Result<bool> {
        let n = match self.recv_raw(libc::MSG_DONTWAIT) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            // A full socket buffer: the kernel dropped packets; go on.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(true),
            Err(e) => return Err(e),
        };
        let mut at = 0;
        while let Some((kind, body, next)) = message(&self.buf[..n], at) {
            at = next;
            if kind != ((NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET) {
                continue;
            }
            // Skip the nfgenmsg, then walk the attributes.
            let mut id = None;
            let mut payload: &[u8] = &[];
            let mut a = 4;
            while a + 4 <= body.len() {
                let len = usize::from(u16::from_ne_bytes([body[a], body[a + 1]]));
                let kind = u16::from_ne_bytes([body[a + 2], body[a + 3]]) & 0x3fff;
                if len < 4 || a + len > body.len() {
                    break;
                }
                let value = &body[a + 4..a + len];
                match kind {
                    NFQA_PACKET_HDR if value.len() >= 4 => {
                        id = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
                    }
                    NFQA_PAYLOAD => payload = value,
                    _ => {}
                }
                a += (len + 3) & !3;
            }
            if let Some(id) = id {
                on_packet(id, payload);
            }
        }
        Ok(true)
    }

    /// Passes or drops packet `id`, with `payload` replacing its bytes.
    pub fn verdict(&mut self, id: u32, verdict: Verdict, payload: Option<&[u8]>) -> io::Result<()> {
        let code = match verdict {
            Verdict::Accept => NF_ACCEPT,
            Verdict::Drop => NF_DROP,
        };
        let mut v = header(
            40 + payload.map_or(0, <[u8]>::len),
            MSG_VERDICT,
            libc::NLM_F_REQUEST as u16,
            0,
            self.num,
        );
        let mut hdr = code.to_be_bytes().to_vec();
        hdr.extend_from_slice(&id.to_be_bytes());
        attr(&mut v, NFQA_VERDICT_HDR, &hdr);
        if let Some(p) = payload {
            attr(&mut v, NFQA_PAYLOAD, p);
        }
        self.send(&finish(v))
    }

    /// Stops receiving packets (the kernel drops those still waiting).
    pub fn unbind(&mut self) -> io::Result<()> {
        self.config(CFG_CMD, &[CMD_UNBIND, 0, 0, 0])
    }
}

/// The netlink message at `at` in `buf`: its type, its body and where the
/// next one starts.
fn message(buf: &[u8], at: usize) -> Option<(u16, &[u8], usize)> {
    let h = buf.get(at..at + 16)?;
    let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let kind = u16::from_ne_bytes([h[4], h[5]]);
    if len < 16 || at + len > buf.len() || kind == NLMSG_DONE {
        return None;
    }
    Some((kind, &buf[at + 16..at + len], at + ((len + 3) & !3)))
}

fn setsockopt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: value is a valid int for the size given.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    })?;
    Ok(())
}

/// A raw IPv4 socket that sends whole packets (header included) carrying
/// firewall mark `mark`, so that the queueing rule can let them pass.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    pub fn open(mark: u32) -> io::Result<RawSender> {
        // SAFETY: plain socket calls on a descriptor we own.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        })?;
        // SAFETY: fd was just returned by socket().
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MARK, mark as i32)?;
        Ok(RawSender { fd })
    }

    /// Sends the IPv4 packet `packet` to its destination address.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let Some(dst) = packet.get(16..20) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "short packet"));
        };
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as u16;
        addr.sin_addr.s_addr = u32::from_ne_bytes([dst[0], dst[1], dst[2], dst[3]]);
        // SAFETY: packet and addr are valid for the lengths given.
        cvt(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            ) as libc::c_int
        })?;
        Ok(())
    }
}
