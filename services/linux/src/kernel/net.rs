//! The socket system calls, over [`crate::sockets`]: IPv4 TCP and UDP, served by the
//! network server.
//!
//! A call that would block (accept with no connection queued, recv with no data, send
//! with the server's buffer full, connect during the handshake) parks the thread as any
//! waiting call does; it is tried again at the server's next tick, since the network
//! server does not signal this personality (it answers every request at once, and a
//! held POLL would hold up every other process's requests: see `retry`'s gating in
//! the kernel module). A non-blocking socket (SOCK_NONBLOCK, O_NONBLOCK, MSG_DONTWAIT)
//! gets EAGAIN instead.
//!
//! Data a socket received is only taken from the server once the destination buffer is
//! known to be writable ([`crate::mm::Mm::writable`]): a bad pointer gets EFAULT and
//! loses nothing.

use alloc::rc::Rc;
use core::cell::RefCell;

use kaal_posix::linux::abi::{self, errno, signal};
use kaal_posix::netproto::{option, ready, state as net_state};

use super::{err, Kernel, Outcome, Pid, Wait};
use crate::files::{Fd, Object, OpenFile};
use crate::sockets::{self as so, Kind, NetError, Socket, State};

/// The bytes a `struct sockaddr_in` has.
const SOCKADDR_IN: usize = 16;

impl Kernel {
    /// The open file behind `fd` if it is a socket; ENOTSOCK if not.
    fn socket_file(&self, pid: Pid, fd: u64) -> Result<Rc<RefCell<OpenFile>>, u64> {
        let file = self.fd_file(pid, fd)?;
        if !matches!(file.borrow().object, Object::Socket(_)) {
            return Err(errno::ENOTSOCK);
        }
        Ok(file)
    }

    /// Runs `f` on the socket behind `fd` (and whether it is non-blocking).
    fn with_socket<T>(&self, pid: Pid, fd: u64, f: impl FnOnce(&mut Socket, bool) -> T) -> Result<T, u64> {
        let file = self.socket_file(pid, fd)?;
        let mut open = file.borrow_mut();
        let nonblock = open.flags & abi::O_NONBLOCK != 0;
        let Object::Socket(socket) = &mut open.object else { return Err(errno::ENOTSOCK) };
        Ok(f(socket, nonblock))
    }

    /// A `struct sockaddr_in` from the process.
    fn read_sockaddr(&mut self, pid: Pid, addr: u64, len: u64) -> Result<(u32, u16), u64> {
        if addr == 0 {
            return Err(errno::EFAULT);
        }
        let raw = self.read_mem(pid, addr, (len as usize).min(128))?;
        abi::parse_sockaddr_in(&raw)
    }

    /// Writes an address into the process's `addr` (cut to `*len_ptr` bytes) and the
    /// full length into `*len_ptr`; nothing when `addr` is NULL.
    fn write_sockaddr(&mut self, pid: Pid, addr: u64, len_ptr: u64, address: u32, port: u16) -> Result<(), u64> {
        if addr == 0 {
            return Ok(());
        }
        let room = self.sockaddr_room(pid, addr, len_ptr)?;
        let raw = abi::sockaddr_in(address, port);
        self.write_mem(pid, addr, &raw[..room])?;
        self.write_mem(pid, len_ptr, &(SOCKADDR_IN as u32).to_le_bytes())
    }

    /// How much of an address fits at `addr` (checked writable, as `*len_ptr` is), so a
    /// connection or datagram is not taken before its address could be stored.
    fn sockaddr_room(&mut self, pid: Pid, addr: u64, len_ptr: u64) -> Result<usize, u64> {
        if addr == 0 {
            return Ok(0);
        }
        let raw = self.read_mem(pid, len_ptr, 4)?;
        let len = i32::from_le_bytes(raw.as_slice().try_into().map_err(|_| errno::EFAULT)?);
        let room = usize::try_from(len).map_err(|_| errno::EINVAL)?.min(SOCKADDR_IN);
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.mm.writable(&mut self.pool, addr, room)?;
        proc.mm.writable(&mut self.pool, len_ptr, 4)?;
        Ok(room)
    }

    fn report_no_network(&mut self, pid: Pid) {
        if self.reported.insert(u64::MAX) {
            kaal_core::println!(
                "[linux] pid {pid} ({}): socket(2) refused (EACCES): the Linux personality has no network; give \
                 [linux] `network = {{ listen = [...], connect = [...] }}` in system.toml (with [network])",
                self.comm(pid)
            );
        }
    }

    pub(super) fn socket(&mut self, pid: Pid, domain: u64, ty: u64) -> Result<u64, u64> {
        if domain != abi::AF_INET {
            // AF_INET6 too: programs fall back to AF_INET (busybox, std) when it fails.
            return Err(errno::EAFNOSUPPORT);
        }
        if ty & !(0xf | abi::SOCK_NONBLOCK | abi::SOCK_CLOEXEC) != 0 {
            return Err(errno::EINVAL);
        }
        let kind = match ty & 0xf {
            abi::SOCK_STREAM => Kind::Stream,
            abi::SOCK_DGRAM => Kind::Datagram,
            _ => return Err(errno::EPROTONOSUPPORT),
        };
        if !so::available() {
            self.report_no_network(pid);
            return Err(errno::EACCES);
        }
        let flags = abi::O_RDWR | if ty & abi::SOCK_NONBLOCK != 0 { abi::O_NONBLOCK } else { 0 };
        let file = OpenFile::new(Object::Socket(Socket::new(kind)), flags);
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.fds.insert(Fd { file, cloexec: ty & abi::SOCK_CLOEXEC != 0 })
    }

    /// Whether the process's confinement lets it listen on (or connect to) `port`.
    fn port_allowed(&self, pid: Pid, port: u16, listen: bool) -> Result<(), u64> {
        let proc = self.procs.get(&pid).ok_or(errno::ESRCH)?;
        crate::confine::check_port(&proc.rules, port, listen)
    }

    pub(super) fn bind(&mut self, pid: Pid, fd: u64, addr: u64, len: u64) -> Result<u64, u64> {
        let (_, port) = self.read_sockaddr(pid, addr, len)?;
        if port != 0 {
            self.port_allowed(pid, port, true)?;
        }
        self.with_socket(pid, fd, |s, _| match (s.kind, s.state) {
            (Kind::Stream, State::Fresh { port: 0 }) => {
                s.state = State::Fresh { port };
                Ok(0)
            }
            (Kind::Datagram, State::Fresh { .. }) => {
                let (handle, port) = so::udp_bind(port).map_err(errno_of)?;
                s.state = State::Bound { handle, port, peer: None };
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        })?
    }

    pub(super) fn listen(&mut self, pid: Pid, fd: u64, backlog: u64) -> Result<u64, u64> {
        self.with_socket(pid, fd, |s, _| match (s.kind, s.state) {
            (Kind::Datagram, _) => Err(errno::EOPNOTSUPP),
            (_, State::Listening { .. }) => Ok(0),
            // No ephemeral ports for listeners: the server listens on granted ports.
            (_, State::Fresh { port: 0 }) => Err(errno::EINVAL),
            (_, State::Fresh { port }) => {
                let handle = so::listen(port, abi::int_arg(backlog).max(1) as u64).map_err(errno_of)?;
                s.state = State::Listening { handle, port };
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        })?
    }

    pub(super) fn accept(&mut self, pid: Pid, fd: u64, addr: u64, len_ptr: u64, flags: u64) -> Outcome {
        if flags & !(abi::SOCK_NONBLOCK | abi::SOCK_CLOEXEC) != 0 {
            return err(errno::EINVAL);
        }
        let (listener, nonblock) = match self.with_socket(pid, fd, |s, nonblock| match s.state {
            State::Listening { handle, .. } => Ok((handle, nonblock)),
            _ => Err(errno::EINVAL),
        }) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) | Err(e) => return err(e),
        };
        if let Err(e) = self.sockaddr_room(pid, addr, len_ptr) {
            return err(e);
        }
        let (handle, peer, port) = match so::accept(listener) {
            Ok(v) => v,
            Err(NetError::WouldBlock) if nonblock => return err(errno::EAGAIN),
            Err(NetError::WouldBlock) => return Outcome::Wait(Wait::Accept { fd, addr, len_ptr, flags }),
            Err(NetError::Errno(e)) => return err(e),
        };
        let mut socket = Socket::new(Kind::Stream);
        socket.state = State::Connected { handle };
        let open = abi::O_RDWR | if flags & abi::SOCK_NONBLOCK != 0 { abi::O_NONBLOCK } else { 0 };
        let file = OpenFile::new(Object::Socket(socket), open);
        let Some(proc) = self.procs.get_mut(&pid) else { return err(errno::ESRCH) };
        // (A full table drops the file, and with it the connection: EMFILE, as Linux.)
        let new = match proc.fds.insert(Fd { file, cloexec: flags & abi::SOCK_CLOEXEC != 0 }) {
            Ok(n) => n,
            Err(e) => return err(e),
        };
        match self.write_sockaddr(pid, addr, len_ptr, peer, port) {
            Ok(()) => Outcome::Return(new),
            Err(e) => err(e),
        }
    }

    pub(super) fn connect(&mut self, pid: Pid, fd: u64, addr: u64, len: u64) -> Outcome {
        let (address, port) = match self.read_sockaddr(pid, addr, len) {
            Ok(a) => a,
            Err(e) => return err(e),
        };
        if let Err(e) = self.port_allowed(pid, port, false) {
            return err(e);
        }
        let started = self.with_socket(pid, fd, |s, nonblock| -> Result<bool, u64> {
            match (s.kind, s.state) {
                (Kind::Datagram, State::Fresh { port: 0 }) => {
                    let (handle, local) = so::udp_bind(0).map_err(errno_of)?;
                    s.state = State::Bound { handle, port: local, peer: Some((address, port)) };
                    Ok(false)
                }
                (Kind::Datagram, State::Fresh { port: local }) => {
                    let (handle, local) = so::udp_bind(local).map_err(errno_of)?;
                    s.state = State::Bound { handle, port: local, peer: Some((address, port)) };
                    Ok(false)
                }
                (Kind::Datagram, State::Bound { handle, port: local, .. }) => {
                    s.state = State::Bound { handle, port: local, peer: Some((address, port)) };
                    Ok(false)
                }
                (Kind::Stream, State::Fresh { .. }) => {
                    let handle = so::connect(address, port).map_err(errno_of)?;
                    if s.nodelay {
                        let _ = so::set_option(handle, option::NODELAY, 1);
                    }
                    s.state = State::Connecting { handle };
                    if nonblock {
                        return Err(errno::EINPROGRESS);
                    }
                    Ok(true)
                }
                (_, State::Connecting { .. }) if nonblock => Err(errno::EALREADY),
                (_, State::Connecting { .. }) => Ok(true),
                (_, State::Connected { .. }) => Err(errno::EISCONN),
                _ => Err(errno::EINVAL),
            }
        });
        match started {
            Ok(Ok(true)) => self.connect_done(pid, fd),
            Ok(Ok(false)) => Outcome::Return(0),
            Ok(Err(e)) | Err(e) => err(e),
        }
    }

    /// A blocking connect, once the handshake ended (or not yet).
    pub(super) fn connect_done(&mut self, pid: Pid, fd: u64) -> Outcome {
        match self.with_socket(pid, fd, |s, _| {
            settle(s);
            match s.state {
                State::Connecting { .. } => None,
                State::Connected { .. } => Some(Ok(0)),
                _ => {
                    let e = core::mem::take(&mut s.error);
                    Some(Err(if e == 0 { errno::ECONNREFUSED } else { e }))
                }
            }
        }) {
            Ok(None) => Outcome::Wait(Wait::Connect { fd }),
            Ok(Some(Ok(v))) => Outcome::Return(v),
            Ok(Some(Err(e))) | Err(e) => err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn sendto(
        &mut self,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
        flags: u64,
        addr: u64,
        alen: u64,
    ) -> Outcome {
        let target = if addr != 0 {
            match self.read_sockaddr(pid, addr, alen) {
                Ok(a) => match self.port_allowed(pid, a.1, false) {
                    Ok(()) => Some(a),
                    Err(e) => return err(e),
                },
                Err(e) => return err(e),
            }
        } else {
            None
        };
        let len = (len as usize).min(so::capacity()).min(1 << 20);
        let data = match self.read_mem(pid, buf, len) {
            Ok(d) => d,
            Err(e) => return err(e),
        };
        let sent = self.with_socket(pid, fd, |s, nonblock| -> Result<Option<usize>, u64> {
            let nonblock = nonblock || flags & abi::MSG_DONTWAIT != 0;
            settle(s);
            match (s.kind, s.state) {
                (Kind::Stream, State::Connected { handle }) => match so::send(handle, &data) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) => blocked(e, nonblock),
                },
                (Kind::Stream, State::Connecting { .. }) if nonblock => Err(errno::EAGAIN),
                (Kind::Stream, State::Connecting { .. }) => Ok(None),
                (Kind::Stream, State::Failed) if s.error != 0 => Err(core::mem::take(&mut s.error)),
                (Kind::Stream, _) => Err(errno::ENOTCONN),
                (Kind::Datagram, state) => {
                    let (handle, peer) = match state {
                        State::Bound { handle, peer, .. } => (handle, peer),
                        State::Fresh { port } => {
                            let (handle, local) = so::udp_bind(port).map_err(errno_of)?;
                            s.state = State::Bound { handle, port: local, peer: None };
                            (handle, None)
                        }
                        _ => return Err(errno::EINVAL),
                    };
                    let (address, port) = target.or(peer).ok_or(errno::EDESTADDRREQ)?;
                    match so::send_to(handle, address, port, &data) {
                        Ok(n) => Ok(Some(n)),
                        Err(e) => blocked(e, nonblock),
                    }
                }
            }
        });
        match sent {
            Ok(Ok(Some(n))) => Outcome::Return(n as u64),
            Ok(Ok(None)) => Outcome::Wait(Wait::Send { fd, buf, len: len as u64, flags, addr, alen }),
            Ok(Err(e)) | Err(e) => {
                if (e == errno::EPIPE || e == errno::ECONNRESET) && flags & abi::MSG_NOSIGNAL == 0 {
                    self.send_signal(pid, signal::SIGPIPE);
                }
                err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn recvfrom(
        &mut self,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
        flags: u64,
        addr: u64,
        alen: u64,
    ) -> Outcome {
        if flags & abi::MSG_PEEK != 0 {
            // The server's protocol takes what it returns; there is no peeking.
            return err(errno::EOPNOTSUPP);
        }
        let len = (len as usize).min(so::capacity()).min(1 << 20);
        // Both destinations are checked before anything is taken from the server.
        let checked = self
            .procs
            .get_mut(&pid)
            .ok_or(errno::ESRCH)
            .and_then(|p| p.mm.writable(&mut self.pool, buf, len))
            .and_then(|()| self.sockaddr_room(pid, addr, alen));
        if let Err(e) = checked {
            return err(e);
        }
        let received =
            self.with_socket(pid, fd, |s, nonblock| -> Result<Option<(alloc::vec::Vec<u8>, u32, u16)>, u64> {
                let nonblock = nonblock || flags & abi::MSG_DONTWAIT != 0;
                settle(s);
                match s.state {
                    State::Connected { handle } => match so::recv(handle, len) {
                        Ok(bytes) => Ok(Some((bytes, 0, 0))),
                        // The connection ended: reads see its end.
                        Err(NetError::Errno(errno::ENOTCONN)) => Ok(Some((alloc::vec::Vec::new(), 0, 0))),
                        Err(e) => blocked(e, nonblock),
                    },
                    State::Bound { handle, .. } => match so::recv_from(handle, len) {
                        Ok(v) => Ok(Some(v)),
                        Err(e) => blocked(e, nonblock),
                    },
                    State::Connecting { .. } if nonblock => Err(errno::EAGAIN),
                    State::Connecting { .. } => Ok(None),
                    State::Failed if s.error != 0 => Err(core::mem::take(&mut s.error)),
                    State::Failed => Ok(Some((alloc::vec::Vec::new(), 0, 0))),
                    State::Fresh { .. } if s.kind == Kind::Datagram && nonblock => Err(errno::EAGAIN),
                    // An unbound datagram socket: nothing can reach it.
                    State::Fresh { .. } if s.kind == Kind::Datagram => Ok(None),
                    _ => Err(errno::ENOTCONN),
                }
            });
        let (data, from, port) = match received {
            Ok(Ok(Some(v))) => v,
            Ok(Ok(None)) => return Outcome::Wait(Wait::Recv { fd, buf, len: len as u64, flags, addr, alen }),
            Ok(Err(e)) | Err(e) => return err(e),
        };
        // Checked writable above: these cannot fail but for a process gone.
        if let Err(e) = self.write_mem(pid, buf, &data) {
            return err(e);
        }
        if from != 0 || port != 0 {
            if let Err(e) = self.write_sockaddr(pid, addr, alen, from, port) {
                return err(e);
            }
        } else if addr != 0 {
            // A stream: no address (Linux leaves it and sets the length to 0).
            let _ = self.write_mem(pid, alen, &0u32.to_le_bytes());
        }
        Outcome::Return(data.len() as u64)
    }

    pub(super) fn shutdown(&mut self, pid: Pid, fd: u64, how: u64) -> Result<u64, u64> {
        if how > 2 {
            return Err(errno::EINVAL);
        }
        self.with_socket(pid, fd, |s, _| match s.state {
            State::Connected { handle } | State::Connecting { handle } => {
                so::shutdown(handle, how + 1).map(|()| 0).map_err(errno_of)
            }
            _ => Err(errno::ENOTCONN),
        })?
    }

    /// getsockname (`peer` false) and getpeername.
    pub(super) fn socket_name(&mut self, pid: Pid, fd: u64, addr: u64, len_ptr: u64, peer: bool) -> Result<u64, u64> {
        let (address, port) = self.with_socket(pid, fd, |s, _| -> Result<(u32, u16), u64> {
            settle(s);
            match (s.state, peer) {
                (State::Fresh { port }, false) => Ok((0, port)),
                (State::Listening { port, .. }, false) => Ok((0, port)),
                (State::Bound { port, .. }, false) => Ok((so::local_address(), port)),
                (State::Bound { peer: Some(p), .. }, true) => Ok(p),
                (State::Connected { handle } | State::Connecting { handle }, _) => {
                    let (state, address, port, local) = so::state(handle).map_err(errno_of)?;
                    match peer {
                        true if state == net_state::CONNECTING => Err(errno::ENOTCONN),
                        true => Ok((address, port)),
                        false => Ok((so::local_address(), local)),
                    }
                }
                _ => Err(errno::ENOTCONN),
            }
        })??;
        if addr == 0 {
            return Err(errno::EFAULT);
        }
        self.write_sockaddr(pid, addr, len_ptr, address, port).map(|()| 0)
    }

    pub(super) fn setsockopt(
        &mut self,
        pid: Pid,
        fd: u64,
        level: u64,
        name: u64,
        val: u64,
        len: u64,
    ) -> Result<u64, u64> {
        let value = if len >= 4 {
            let raw = self.read_mem(pid, val, 4)?;
            i32::from_le_bytes(raw.as_slice().try_into().map_err(|_| errno::EFAULT)?)
        } else {
            0
        };
        self.with_socket(pid, fd, |s, _| match (level, name) {
            (abi::IPPROTO_TCP, abi::TCP_NODELAY) => {
                s.nodelay = value != 0;
                match s.handle() {
                    Some(handle) if s.kind == Kind::Stream => {
                        so::set_option(handle, option::NODELAY, s.nodelay as u64).map(|()| 0).map_err(errno_of)
                    }
                    _ => Ok(0),
                }
            }
            // Harmless here, taken and ignored: SO_REUSEADDR, SO_BROADCAST, SO_SNDBUF,
            // SO_RCVBUF, SO_KEEPALIVE, SO_LINGER, SO_REUSEPORT, SO_RCVTIMEO, SO_SNDTIMEO.
            (abi::SOL_SOCKET, 2 | 6 | 7 | 8 | 9 | 13 | 15 | 20 | 21) => Ok(0),
            // The TCP options a program tunes (keep-alive timing, TCP_QUICKACK).
            (abi::IPPROTO_TCP, 4..=6 | 12) => Ok(0),
            _ => Err(errno::ENOPROTOOPT),
        })?
    }

    pub(super) fn getsockopt(
        &mut self,
        pid: Pid,
        fd: u64,
        level: u64,
        name: u64,
        val: u64,
        len_ptr: u64,
    ) -> Result<u64, u64> {
        let value: i32 = self.with_socket(pid, fd, |s, _| match (level, name) {
            (abi::SOL_SOCKET, abi::SO_ERROR) => {
                settle(s);
                Ok(core::mem::take(&mut s.error) as i32)
            }
            (abi::SOL_SOCKET, abi::SO_TYPE) => Ok(if s.kind == Kind::Stream { 1 } else { 2 }),
            // SO_ACCEPTCONN
            (abi::SOL_SOCKET, 30) => Ok(matches!(s.state, State::Listening { .. }) as i32),
            (abi::SOL_SOCKET, 7 | 8) => Ok(so::capacity() as i32),
            (abi::SOL_SOCKET, 2 | 9) => Ok(0),
            (abi::IPPROTO_TCP, abi::TCP_NODELAY) => Ok(s.nodelay as i32),
            _ => Err(errno::ENOPROTOOPT),
        })??;
        let raw = self.read_mem(pid, len_ptr, 4)?;
        let room = i32::from_le_bytes(raw.as_slice().try_into().map_err(|_| errno::EFAULT)?);
        let room = usize::try_from(room).map_err(|_| errno::EINVAL)?.min(4);
        self.write_mem(pid, val, &value.to_le_bytes()[..room])?;
        self.write_mem(pid, len_ptr, &(room as u32).to_le_bytes())?;
        Ok(0)
    }

    /// poll(2)'s bits for a socket now.
    pub(super) fn socket_readiness(socket: &Socket) -> u16 {
        let bits = |handle: u64, wanted: u32| {
            let got = so::readiness(handle, wanted);
            (if got & ready::READ != 0 { abi::POLLIN } else { 0 })
                | (if got & ready::WRITE != 0 { abi::POLLOUT } else { 0 })
                | (if got & ready::ERROR != 0 { abi::POLLERR } else { 0 })
                | (if got & ready::HANGUP != 0 { abi::POLLIN | abi::POLLRDHUP } else { 0 })
        };
        match socket.state {
            State::Fresh { .. } if socket.kind == Kind::Stream => abi::POLLOUT | abi::POLLHUP,
            State::Fresh { .. } => abi::POLLOUT,
            State::Listening { handle, .. } => bits(handle, ready::READ) & abi::POLLIN,
            State::Connecting { handle } => bits(handle, ready::WRITE),
            State::Connected { handle } | State::Bound { handle, .. } => bits(handle, ready::READ | ready::WRITE),
            State::Failed => abi::POLLERR | abi::POLLHUP,
        }
    }
}

/// A connecting stream whose handshake ended becomes connected, or failed with its
/// error kept for SO_ERROR (and its handle closed).
fn settle(s: &mut Socket) {
    let State::Connecting { handle } = s.state else { return };
    let got = so::readiness(handle, ready::WRITE);
    if got & ready::ERROR != 0 {
        s.error = so::failure(handle);
        s.state = State::Failed;
        so::close(handle);
    } else if got & ready::WRITE != 0 {
        s.state = State::Connected { handle };
    }
}

/// A call that could not go ahead: `Ok(None)` parks a blocking caller, a non-blocking
/// one gets EAGAIN; an errno stays one.
fn blocked<T>(e: NetError, nonblock: bool) -> Result<Option<T>, u64> {
    match e {
        NetError::WouldBlock if nonblock => Err(errno::EAGAIN),
        NetError::WouldBlock => Ok(None),
        NetError::Errno(e) => Err(e),
    }
}

fn errno_of(e: NetError) -> u64 {
    match e {
        NetError::WouldBlock => errno::EAGAIN,
        NetError::Errno(e) => e,
    }
}
