//! The sockets: smoltcp's interface and socket set, and each client's handles, ports
//! and parked POLL, answering the requests of `kaal_posix::netproto`.
//!
//! - **Listeners.** smoltcp has no accept queue: a TCP socket that listens becomes the
//!   connection. A listener therefore keeps a few sockets listening on its port; each
//!   that leaves the listening state (a SYN came) moves to the listener's queue, and a
//!   fresh listening socket replaces it before the next frame is looked at, while the
//!   queue is within the backlog and memory allows. When none listens, a SYN is
//!   answered with a reset: the client is refused cleanly.
//! - **Closing.** CLOSE half-closes (FIN) a stream with no unread data, and the socket
//!   stays in the set until it reaches CLOSED or TIME-WAIT (or [`LINGER`] passes);
//!   with unread data it is aborted (RST), as on Linux.
//! - **Ports.** A client listens on or binds only the local ports system.toml grants it
//!   and connects or sends only to granted remote ports; a UDP socket may also answer
//!   the endpoints it has received from. Local ports for outgoing connections come from
//!   49152-65535.
//! - **Memory.** Socket buffers are allocated with `try_reserve`: a full heap refuses
//!   the socket with `OutOfMemory` instead of aborting the server.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kaal_ipc::SharedMemory;
use kaal_posix::netproto::{self, op, ready, state, Status};
use kaal_posix::proto::{Request, Response};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address, Ipv4Cidr};

use crate::config::{self, Address, Config};

/// Bytes of each TCP socket's receive and send buffers. 64 KiB is the largest window
/// without window scaling.
pub const TCP_RX: usize = 64 * 1024;
pub const TCP_TX: usize = 64 * 1024;
/// Each UDP socket: payload bytes and datagrams queued each way.
const UDP_BYTES: usize = 64 * 1024;
const UDP_DATAGRAMS: usize = 64;
/// The largest UDP payload sent (no IP fragmentation).
pub const MAX_DATAGRAM: usize = 1472;
/// How long a closed stream may take to finish its FIN handshake before it is aborted.
pub const LINGER: Duration = Duration::from_secs(10);
/// Sockets each listener keeps listening; more connections than that wait in its queue
/// (up to the backlog) once their SYN took one.
const LISTENING: usize = 2;
/// The longest keep-alive or idle timeout a client may set (a day).
const MAX_OPTION_MS: u64 = 24 * 3600 * 1000;
/// A connection that the peer does not complete (a SYN into silence, or a SYN that
/// came to a listener and nothing after it) is given up after this long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Peers a UDP socket remembers as answerable.
const UDP_PEERS: usize = 16;
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

enum Entry {
    Listener {
        port: u16,
        backlog: usize,
        /// Sockets listening on the port.
        listening: Vec<SocketHandle>,
        /// Sockets that left LISTEN (a SYN came), oldest first.
        arrived: VecDeque<SocketHandle>,
    },
    Stream {
        socket: SocketHandle,
        local_port: u16,
        /// It was ever established (else a close means refused, or timed out).
        established: bool,
        /// When its connect began (`None`: accepted).
        connecting_since: Option<Instant>,
        read_shut: bool,
        write_shut: bool,
    },
    Udp {
        socket: SocketHandle,
        port: u16,
        peers: VecDeque<IpEndpoint>,
    },
}

/// A POLL held until something is ready or its deadline passes.
struct Parked {
    id: u32,
    entries: Vec<(u32, u32)>,
    deadline: Option<Instant>,
}

struct ClientState {
    grant: config::Client,
    table: Vec<Option<Entry>>,
    parked: Option<Parked>,
}

/// What the stack counts, for reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub accepted: u64,
    pub refused_ports: u64,
    pub out_of_memory: u64,
}

/// The network stack and its clients.
pub struct Stack {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    address: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Address>,
    mac: [u8; 6],
    clients: Vec<ClientState>,
    /// Streams closed by their client, finishing their FIN handshake.
    closing: Vec<(SocketHandle, Instant)>,
    next_ephemeral: u16,
    pub stats: Stats,
    /// Set when the address changes (for the server's log).
    pub address_changed: bool,
    /// The NIC driver stopped: what needs the wire (a connect, a datagram) is refused
    /// with `NetworkDown`.
    pub network_down: bool,
    /// The time of the last poll or request.
    now: Instant,
}

fn reply(status: Status, id: u32, words: [u64; 4]) -> Response {
    Response { status: status as u32, id, words }
}

fn ip_word(ip: Ipv4Address) -> u64 {
    u32::from_be_bytes(ip.octets()) as u64
}

fn endpoint_ip(ep: &IpEndpoint) -> u64 {
    match ep.addr {
        IpAddress::Ipv4(ip) => ip_word(ip),
    }
}

impl Stack {
    /// The interface for `config`, with MAC `mac`, on `device`, at `now`. `seed` seeds
    /// smoltcp's choices (initial sequence numbers, DHCP transaction IDs).
    pub fn new(config: &Config, mac: [u8; 6], device: &mut impl Device, now: Instant, seed: u64) -> Stack {
        let mut iface_config = IfaceConfig::new(EthernetAddress(mac).into());
        iface_config.random_seed = seed;
        let iface = Interface::new(iface_config, device, now);
        let mut stack = Stack {
            iface,
            sockets: SocketSet::new(Vec::new()),
            dhcp: None,
            address: None,
            gateway: None,
            mac,
            clients: config
                .clients
                .iter()
                .map(|c| ClientState {
                    grant: c.clone(),
                    table: (0..netproto::MAX_SOCKETS).map(|_| None).collect(),
                    parked: None,
                })
                .collect(),
            closing: Vec::new(),
            next_ephemeral: *EPHEMERAL.start(),
            stats: Stats::default(),
            address_changed: false,
            network_down: false,
            now,
        };
        match config.address {
            Address::Dhcp => {
                let socket = dhcpv4::Socket::new();
                stack.dhcp = Some(stack.sockets.add(socket));
            }
            Address::Static { address, prefix, gateway } => {
                stack.set_address(
                    Some(Ipv4Cidr::new(Ipv4Address::from_octets(address), prefix)),
                    gateway.map(Ipv4Address::from_octets),
                );
            }
        }
        stack
    }

    fn set_address(&mut self, cidr: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
        if (cidr, gateway) == (self.address, self.gateway) {
            return;
        }
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some(cidr) = cidr {
                let _ = addrs.push(IpCidr::Ipv4(cidr));
            }
        });
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(gateway) = gateway {
            let _ = self.iface.routes_mut().add_default_ipv4_route(gateway);
        }
        self.address = cidr;
        self.gateway = gateway;
        self.address_changed = true;
    }

    /// The address, its prefix length and the gateway, once known.
    pub fn address(&self) -> Option<(Ipv4Cidr, Option<Ipv4Address>)> {
        self.address.map(|a| (a, self.gateway))
    }

    /// One round of the stack: frames in and out, DHCP, listeners refilled, closing
    /// streams reaped. Returns whether any socket's state may have changed.
    pub fn poll(&mut self, now: Instant, device: &mut impl Device) -> bool {
        use smoltcp::iface::{PollIngressSingleResult, PollResult};
        self.now = now;
        // smoltcp's `poll`, one received frame at a time: a SYN that takes a listening
        // socket gets it replaced before the next frame, so a burst of connections
        // finds a socket listening while only a few listen at once (every socket costs
        // time in every poll).
        let mut changed = false;
        self.iface.poll_maintenance(now);
        loop {
            match self.iface.poll_ingress_single(now, device, &mut self.sockets) {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => {
                    changed = true;
                    self.refill_listeners();
                }
            }
        }
        while self.iface.poll_egress(now, device, &mut self.sockets) == PollResult::SocketStateChanged {
            changed = true;
        }
        if let Some(dhcp) = self.dhcp {
            let event = self.sockets.get_mut::<dhcpv4::Socket>(dhcp).poll();
            match event {
                Some(dhcpv4::Event::Configured(c)) => {
                    let (address, router) = (c.address, c.router);
                    self.set_address(Some(address), router);
                }
                Some(dhcpv4::Event::Deconfigured) => self.set_address(None, None),
                None => {}
            }
        }
        self.maintain(now);
        changed
    }

    /// When the stack next needs polling, whatever arrives.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let mut at = self.iface.poll_at(now, &self.sockets);
        for (_, since) in &self.closing {
            let end = *since + LINGER;
            at = Some(at.map_or(end, |a| a.min(end)));
        }
        for client in &self.clients {
            if let Some(deadline) = client.parked.as_ref().and_then(|p| p.deadline) {
                at = Some(at.map_or(deadline, |a| a.min(deadline)));
            }
        }
        at
    }

    fn maintain(&mut self, now: Instant) {
        self.refill_listeners();
        self.reap(now);
    }

    /// Listeners: moves sockets that got a SYN to their queue, listens again on a
    /// socket whose handshake failed, and keeps [`LISTENING`] sockets listening as long
    /// as the queue and they stay within the backlog.
    fn refill_listeners(&mut self) {
        for c in 0..self.clients.len() {
            for h in 0..netproto::MAX_SOCKETS {
                let Some(Entry::Listener { port, backlog, listening, arrived }) = &mut self.clients[c].table[h] else {
                    continue;
                };
                let port = *port;
                let mut i = 0;
                while i < listening.len() {
                    let socket = self.sockets.get_mut::<tcp::Socket>(listening[i]);
                    match socket.state() {
                        tcp::State::Listen => i += 1,
                        tcp::State::Closed => {
                            let _ = socket.listen(port);
                            i += 1;
                        }
                        _ => arrived.push_back(listening.swap_remove(i)),
                    }
                }
                // Arrivals whose handshake failed before accept go back to listening.
                arrived.retain(|&s| {
                    let socket = self.sockets.get_mut::<tcp::Socket>(s);
                    if socket.state() == tcp::State::Closed {
                        let _ = socket.listen(port);
                        listening.push(s);
                        false
                    } else {
                        true
                    }
                });
                while listening.len() < LISTENING && listening.len() + arrived.len() < *backlog + LISTENING {
                    let Ok(mut socket) = new_listening() else {
                        self.stats.out_of_memory += 1;
                        break;
                    };
                    if socket.listen(port).is_err() {
                        break;
                    }
                    listening.push(self.sockets.add(socket));
                }
            }
        }
    }

    /// Closed streams: gone once their handshake ends, aborted after [`LINGER`].
    fn reap(&mut self, now: Instant) {
        let sockets = &mut self.sockets;
        self.closing.retain(|&(handle, since)| {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let done = matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done || now >= since + LINGER {
                socket.abort();
                sockets.remove(handle);
                false
            } else {
                true
            }
        });
    }

    fn port_in_use(&self, port: u16, udp: bool) -> bool {
        self.clients.iter().flat_map(|c| c.table.iter().flatten()).any(|e| match e {
            Entry::Listener { port: p, .. } => !udp && *p == port,
            Entry::Stream { local_port, .. } => !udp && *local_port == port,
            Entry::Udp { port: p, .. } => udp && *p == port,
        })
    }

    fn ephemeral(&mut self, udp: bool) -> Option<u16> {
        let count = (EPHEMERAL.end() - EPHEMERAL.start()) as usize + 1;
        for _ in 0..count {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == *EPHEMERAL.end() { *EPHEMERAL.start() } else { port + 1 };
            if !self.port_in_use(port, udp) {
                return Some(port);
            }
        }
        None
    }

    fn free_slot(&self, c: usize) -> Option<usize> {
        self.clients[c].table.iter().position(Option::is_none)
    }

    /// Whether client `c` has a POLL waiting.
    pub fn has_parked(&self, c: usize) -> bool {
        self.clients[c].parked.is_some()
    }

    /// Answers client `c`'s parked POLL if it is ready or its deadline passed.
    pub fn poll_parked(&mut self, c: usize, buffer: &impl SharedMemory, now: Instant) -> Option<Response> {
        let parked = self.clients[c].parked.as_ref()?;
        let (ready, bits) = self.evaluate(c, &parked.entries);
        let expired = parked.deadline.is_some_and(|d| now >= d);
        if ready == 0 && !expired {
            return None;
        }
        let parked = self.clients[c].parked.take()?;
        write_poll_answer(buffer, &bits);
        // A timeout is an answer with no entry ready, as poll(2) gives.
        Some(reply(Status::Ok, parked.id, [ready as u64, 0, 0, 0]))
    }

    fn evaluate(&self, c: usize, entries: &[(u32, u32)]) -> (usize, Vec<u32>) {
        let bits: Vec<u32> = entries
            .iter()
            .map(|&(handle, interest)| self.readiness(c, handle as usize) & (interest | ready::ERROR | ready::HANGUP))
            .collect();
        (bits.iter().filter(|b| **b != 0).count(), bits)
    }

    /// What holds for handle `h` of client `c` ([`ready`] bits; ERROR for a bad handle).
    fn readiness(&self, c: usize, h: usize) -> u32 {
        let Some(Some(entry)) = self.clients[c].table.get(h) else { return ready::ERROR };
        match entry {
            Entry::Listener { arrived, .. } => {
                let any = arrived.iter().any(|&s| {
                    matches!(
                        self.sockets.get::<tcp::Socket>(s).state(),
                        tcp::State::Established | tcp::State::CloseWait
                    )
                });
                if any {
                    ready::READ
                } else {
                    0
                }
            }
            &Entry::Stream { socket, established, read_shut, .. } => {
                let s = self.sockets.get::<tcp::Socket>(socket);
                let mut bits = 0;
                if s.can_recv() || read_shut {
                    bits |= ready::READ;
                }
                if !s.may_recv() && !matches!(s.state(), tcp::State::SynSent | tcp::State::SynReceived) {
                    bits |= ready::READ | ready::HANGUP;
                    if !established && s.state() == tcp::State::Closed {
                        bits |= ready::ERROR;
                    }
                }
                if s.can_send() {
                    bits |= ready::WRITE;
                }
                bits
            }
            Entry::Udp { socket, .. } => {
                let s = self.sockets.get::<udp::Socket>(*socket);
                let mut bits = 0;
                if s.can_recv() {
                    bits |= ready::READ;
                }
                if s.can_send() {
                    bits |= ready::WRITE;
                }
                bits
            }
        }
    }

    /// Notes streams that became established (a later close is then not a refusal).
    pub fn note_established(&mut self) {
        for client in &mut self.clients {
            for entry in client.table.iter_mut().flatten() {
                if let Entry::Stream { socket, established, .. } = entry {
                    if !*established && self.sockets.get::<tcp::Socket>(*socket).may_send() {
                        *established = true;
                        self.sockets.get_mut::<tcp::Socket>(*socket).set_timeout(None);
                    }
                }
            }
        }
    }

    /// Serves one request of client `c`, whose buffer (the data area) is `buffer`:
    /// `None` when it is a POLL that now waits.
    pub fn request(&mut self, c: usize, req: &Request, buffer: &impl SharedMemory, now: Instant) -> Option<Response> {
        self.now = now;
        let id = req.id;
        let w = req.words;
        let capacity = buffer.size();
        let result = match req.op {
            op::TCP_LISTEN => self.listen(c, w[0], w[1]),
            op::TCP_ACCEPT => self.accept(c, w[0]),
            op::TCP_CONNECT => self.connect(c, w[0], w[1]),
            op::SEND => self.send(c, w[0], w[1], buffer, capacity),
            op::RECV => self.recv(c, w[0], w[1], buffer, capacity),
            op::SHUTDOWN => self.shutdown(c, w[0], w[1]),
            op::CLOSE => self.close(c, w[0], now),
            op::UDP_BIND => self.udp_bind(c, w[0]),
            op::SEND_TO => self.send_to(c, w, buffer, capacity),
            op::RECV_FROM => self.recv_from(c, w[0], w[1], buffer, capacity),
            op::POLL => return self.poll_request(c, id, w[0], w[1], buffer, capacity, now),
            op::STATE => self.state(c, w[0]),
            op::INFO => Ok(self.info()),
            op::SET_OPTION => self.set_option(c, w[0], w[1], w[2]),
            _ => Err(Status::BadRequest),
        };
        Some(match result {
            Ok(words) => reply(Status::Ok, id, words),
            Err(status) => reply(status, id, [0; 4]),
        })
    }

    fn info(&self) -> [u64; 4] {
        let (address, prefix) = self.address.map_or((0, 0), |a| (ip_word(a.address()), a.prefix_len() as u64));
        let gateway = self.gateway.map_or(0, ip_word);
        let mac = self.mac.iter().fold(0u64, |acc, b| acc << 8 | *b as u64);
        [address, prefix, gateway, mac]
    }

    fn handle(&self, c: usize, h: u64) -> Result<usize, Status> {
        let h = usize::try_from(h).map_err(|_| Status::BadHandle)?;
        match self.clients[c].table.get(h) {
            Some(Some(_)) => Ok(h),
            _ => Err(Status::BadHandle),
        }
    }

    fn listen(&mut self, c: usize, port: u64, backlog: u64) -> Result<[u64; 4], Status> {
        let port = u16::try_from(port).ok().filter(|p| *p != 0).ok_or(Status::InvalidInput)?;
        if !self.clients[c].grant.listen.contains(&port) {
            self.stats.refused_ports += 1;
            return Err(Status::PermissionDenied);
        }
        if self.port_in_use(port, false) {
            return Err(Status::AddrInUse);
        }
        let slot = self.free_slot(c).ok_or(Status::TooManySockets)?;
        let backlog = backlog.clamp(1, netproto::MAX_BACKLOG) as usize;
        let mut socket = new_listening().inspect_err(|_| self.stats.out_of_memory += 1)?;
        socket.listen(port).map_err(|_| Status::InvalidInput)?;
        let first = self.sockets.add(socket);
        self.clients[c].table[slot] =
            Some(Entry::Listener { port, backlog, listening: alloc::vec![first], arrived: VecDeque::new() });
        // The rest of the backlog comes with the next poll (maintain).
        Ok([slot as u64, 0, 0, 0])
    }

    fn accept(&mut self, c: usize, h: u64) -> Result<[u64; 4], Status> {
        let h = self.handle(c, h)?;
        let slot = self.free_slot(c);
        let Some(Entry::Listener { port, arrived, .. }) = &mut self.clients[c].table[h] else {
            return Err(Status::BadHandle);
        };
        let port = *port;
        let sockets = &self.sockets;
        let Some(i) = arrived.iter().position(|&s| {
            matches!(sockets.get::<tcp::Socket>(s).state(), tcp::State::Established | tcp::State::CloseWait)
        }) else {
            return Err(Status::WouldBlock);
        };
        let slot = slot.ok_or(Status::TooManySockets)?;
        let socket = arrived.remove(i).expect("found above");
        // Connected: no handshake timeout any more (the client may set its own).
        self.sockets.get_mut::<tcp::Socket>(socket).set_timeout(None);
        let peer = self.sockets.get::<tcp::Socket>(socket).remote_endpoint();
        self.clients[c].table[slot] = Some(Entry::Stream {
            socket,
            local_port: port,
            established: true,
            connecting_since: None,
            read_shut: false,
            write_shut: false,
        });
        self.stats.accepted += 1;
        let (ip, peer_port) = peer.map_or((0, 0), |p| (endpoint_ip(&p), p.port as u64));
        Ok([slot as u64, ip, peer_port, port as u64])
    }

    fn connect(&mut self, c: usize, address: u64, port: u64) -> Result<[u64; 4], Status> {
        let port = u16::try_from(port).ok().filter(|p| *p != 0).ok_or(Status::InvalidInput)?;
        let address = u32::try_from(address).ok().filter(|a| *a != 0).ok_or(Status::InvalidInput)?;
        if !self.clients[c].grant.connect.contains(&port) {
            self.stats.refused_ports += 1;
            return Err(Status::PermissionDenied);
        }
        if self.address.is_none() || self.network_down {
            return Err(Status::NetworkDown);
        }
        let slot = self.free_slot(c).ok_or(Status::TooManySockets)?;
        let local_port = self.ephemeral(false).ok_or(Status::AddrInUse)?;
        let mut socket = new_tcp().inspect_err(|_| self.stats.out_of_memory += 1)?;
        let remote = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from_bits(address)), port);
        socket.connect(self.iface.context(), remote, local_port).map_err(|e| match e {
            tcp::ConnectError::Unaddressable => Status::Unreachable,
            tcp::ConnectError::InvalidState => Status::InvalidInput,
        })?;
        // A SYN into silence is given up after the handshake timeout (smoltcp would
        // retry for ever); once connected the socket has none.
        socket.set_timeout(Some(HANDSHAKE_TIMEOUT));
        let socket = self.sockets.add(socket);
        self.clients[c].table[slot] = Some(Entry::Stream {
            socket,
            local_port,
            established: false,
            connecting_since: Some(self.now),
            read_shut: false,
            write_shut: false,
        });
        Ok([slot as u64, local_port as u64, 0, 0])
    }

    fn stream(&mut self, c: usize, h: u64) -> Result<(&mut tcp::Socket<'static>, bool, bool, bool), Status> {
        let h = self.handle(c, h)?;
        let Some(Entry::Stream { socket, established, read_shut, write_shut, .. }) = &self.clients[c].table[h] else {
            return Err(Status::BadHandle);
        };
        let (socket, established, read_shut, write_shut) = (*socket, *established, *read_shut, *write_shut);
        Ok((self.sockets.get_mut::<tcp::Socket>(socket), established, read_shut, write_shut))
    }

    /// Why stream `h`, never established, is closed: its handshake timed out, or the
    /// peer refused it.
    fn connect_failure(&self, c: usize, h: u64) -> Status {
        let since = match usize::try_from(h).ok().and_then(|h| self.clients[c].table.get(h)) {
            Some(Some(Entry::Stream { connecting_since: Some(since), .. })) => *since,
            _ => return Status::ConnectionRefused,
        };
        if self.now >= since + HANDSHAKE_TIMEOUT {
            Status::TimedOut
        } else {
            Status::ConnectionRefused
        }
    }

    fn send(&mut self, c: usize, h: u64, len: u64, buffer: &impl SharedMemory, cap: usize) -> Result<[u64; 4], Status> {
        let len = usize::try_from(len).ok().filter(|l| *l <= cap).ok_or(Status::InvalidInput)?;
        let (socket, established, _, write_shut) = self.stream(c, h)?;
        if write_shut {
            return Err(Status::BrokenPipe);
        }
        match socket.state() {
            tcp::State::SynSent | tcp::State::SynReceived => return Err(Status::WouldBlock),
            tcp::State::Closed if !established => return Err(self.connect_failure(c, h)),
            _ if !socket.may_send() => return Err(Status::ConnectionReset),
            _ => {}
        }
        let mut sent = 0;
        // The send buffer is a ring: its free space may come in two pieces.
        for _ in 0..2 {
            if sent == len || !socket.can_send() {
                break;
            }
            let n = socket
                .send(|space| {
                    let n = space.len().min(len - sent);
                    buffer.read_bytes(sent, &mut space[..n]);
                    (n, n)
                })
                .map_err(|_| Status::ConnectionReset)?;
            if n == 0 {
                break;
            }
            sent += n;
        }
        if sent == 0 && len > 0 {
            return Err(Status::WouldBlock);
        }
        Ok([sent as u64, 0, 0, 0])
    }

    fn recv(&mut self, c: usize, h: u64, max: u64, buffer: &impl SharedMemory, cap: usize) -> Result<[u64; 4], Status> {
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(cap);
        let (socket, established, read_shut, _) = self.stream(c, h)?;
        if read_shut {
            return Ok([0; 4]);
        }
        if !socket.can_recv() {
            return match socket.state() {
                tcp::State::SynSent | tcp::State::SynReceived => Err(Status::WouldBlock),
                tcp::State::Closed if !established => Err(self.connect_failure(c, h)),
                _ if !socket.may_recv() => Ok([0; 4]),
                _ => Err(Status::WouldBlock),
            };
        }
        let mut got = 0;
        for _ in 0..2 {
            // The receive buffer is a ring: its data may come in two pieces. (A call
            // with nothing left errs once the peer closed: stop before it.)
            if got == max || !socket.can_recv() {
                break;
            }
            let n = socket
                .recv(|data| {
                    let n = data.len().min(max - got);
                    buffer.write_bytes(got, &data[..n]);
                    (n, n)
                })
                .map_err(|_| Status::ConnectionReset)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok([got as u64, 0, 0, 0])
    }

    fn shutdown(&mut self, c: usize, h: u64, how: u64) -> Result<[u64; 4], Status> {
        if how == 0 || how > netproto::shutdown::BOTH {
            return Err(Status::InvalidInput);
        }
        let h = self.handle(c, h)?;
        let Some(Entry::Stream { socket, read_shut, write_shut, .. }) = &mut self.clients[c].table[h] else {
            return Err(Status::BadHandle);
        };
        if how & netproto::shutdown::READ != 0 {
            *read_shut = true;
        }
        if how & netproto::shutdown::WRITE != 0 {
            *write_shut = true;
            self.sockets.get_mut::<tcp::Socket>(*socket).close();
        }
        Ok([0; 4])
    }

    fn close(&mut self, c: usize, h: u64, now: Instant) -> Result<[u64; 4], Status> {
        let h = self.handle(c, h)?;
        let entry = self.clients[c].table[h].take().expect("checked by handle");
        self.release(entry, now);
        Ok([0; 4])
    }

    fn release(&mut self, entry: Entry, now: Instant) {
        match entry {
            Entry::Listener { listening, arrived, .. } => {
                for s in listening.into_iter().chain(arrived) {
                    self.sockets.get_mut::<tcp::Socket>(s).abort();
                    self.closing.push((s, now));
                }
            }
            Entry::Stream { socket, .. } => {
                let s = self.sockets.get_mut::<tcp::Socket>(socket);
                if s.recv_queue() > 0 {
                    s.abort();
                } else {
                    s.close();
                }
                self.closing.push((socket, now));
            }
            Entry::Udp { socket, .. } => {
                self.sockets.remove(socket);
            }
        }
    }

    fn udp_bind(&mut self, c: usize, port: u64) -> Result<[u64; 4], Status> {
        let port = u16::try_from(port).map_err(|_| Status::InvalidInput)?;
        let port = if port == 0 {
            self.ephemeral(true).ok_or(Status::AddrInUse)?
        } else {
            if !self.clients[c].grant.listen.contains(&port) {
                self.stats.refused_ports += 1;
                return Err(Status::PermissionDenied);
            }
            if self.port_in_use(port, true) {
                return Err(Status::AddrInUse);
            }
            port
        };
        let slot = self.free_slot(c).ok_or(Status::TooManySockets)?;
        let mut socket = new_udp().inspect_err(|_| self.stats.out_of_memory += 1)?;
        socket.bind(IpListenEndpoint { addr: None, port }).map_err(|_| Status::InvalidInput)?;
        let socket = self.sockets.add(socket);
        self.clients[c].table[slot] = Some(Entry::Udp { socket, port, peers: VecDeque::new() });
        Ok([slot as u64, port as u64, 0, 0])
    }

    fn send_to(&mut self, c: usize, w: [u64; 4], buffer: &impl SharedMemory, cap: usize) -> Result<[u64; 4], Status> {
        let h = self.handle(c, w[0])?;
        let address = u32::try_from(w[1]).ok().filter(|a| *a != 0).ok_or(Status::InvalidInput)?;
        let port = u16::try_from(w[2]).ok().filter(|p| *p != 0).ok_or(Status::InvalidInput)?;
        let len = usize::try_from(w[3]).ok().filter(|l| *l <= cap.min(MAX_DATAGRAM)).ok_or(Status::InvalidInput)?;
        let granted = self.clients[c].grant.connect.contains(&port);
        let Some(Entry::Udp { socket, peers, .. }) = &self.clients[c].table[h] else {
            return Err(Status::BadHandle);
        };
        let remote = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from_bits(address)), port);
        if !granted && !peers.contains(&remote) {
            self.stats.refused_ports += 1;
            return Err(Status::PermissionDenied);
        }
        if self.address.is_none() || self.network_down {
            return Err(Status::NetworkDown);
        }
        let socket = self.sockets.get_mut::<udp::Socket>(*socket);
        let space = socket.send(len, remote).map_err(|e| match e {
            udp::SendError::BufferFull => Status::WouldBlock,
            udp::SendError::Unaddressable => Status::Unreachable,
        })?;
        buffer.read_bytes(0, space);
        Ok([len as u64, 0, 0, 0])
    }

    fn recv_from(
        &mut self,
        c: usize,
        h: u64,
        max: u64,
        buffer: &impl SharedMemory,
        cap: usize,
    ) -> Result<[u64; 4], Status> {
        let h = self.handle(c, h)?;
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(cap);
        let Some(Entry::Udp { socket, peers, .. }) = &mut self.clients[c].table[h] else {
            return Err(Status::BadHandle);
        };
        let socket = self.sockets.get_mut::<udp::Socket>(*socket);
        let (data, meta) = socket.recv().map_err(|_| Status::WouldBlock)?;
        let n = data.len().min(max);
        buffer.write_bytes(0, &data[..n]);
        let peer = meta.endpoint;
        if !peers.contains(&peer) {
            if peers.len() == UDP_PEERS {
                peers.pop_front();
            }
            peers.push_back(peer);
        }
        Ok([n as u64, endpoint_ip(&peer), peer.port as u64, 0])
    }

    #[allow(clippy::too_many_arguments)]
    fn poll_request(
        &mut self,
        c: usize,
        id: u32,
        count: u64,
        timeout: u64,
        buffer: &impl SharedMemory,
        cap: usize,
        now: Instant,
    ) -> Option<Response> {
        let Some(count) =
            usize::try_from(count).ok().filter(|n| *n <= netproto::MAX_POLL && n * netproto::POLL_ENTRY <= cap)
        else {
            return Some(reply(Status::InvalidInput, id, [0; 4]));
        };
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let mut raw = [0u8; netproto::POLL_ENTRY];
            buffer.read_bytes(i * netproto::POLL_ENTRY, &mut raw);
            let handle = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            let interest = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]) & ready::ALL;
            entries.push((handle, interest));
        }
        if count == 0 && timeout == netproto::FOREVER {
            // It would wait forever.
            return Some(reply(Status::InvalidInput, id, [0; 4]));
        }
        let (ready, bits) = self.evaluate(c, &entries);
        if ready > 0 || timeout == 0 {
            write_poll_answer(buffer, &bits);
            return Some(reply(Status::Ok, id, [ready as u64, 0, 0, 0]));
        }
        let deadline = (timeout != netproto::FOREVER)
            .then(|| now + Duration::from_micros(timeout.div_ceil(1000).min(u64::MAX / 2)));
        self.clients[c].parked = Some(Parked { id, entries, deadline });
        None
    }

    fn state(&mut self, c: usize, h: u64) -> Result<[u64; 4], Status> {
        let h = self.handle(c, h)?;
        match &self.clients[c].table[h] {
            Some(Entry::Listener { port, .. }) => Ok([state::LISTENING, 0, 0, *port as u64]),
            Some(Entry::Udp { port, .. }) => Ok([state::DATAGRAM, 0, 0, *port as u64]),
            Some(Entry::Stream { socket, local_port, .. }) => {
                let s = self.sockets.get::<tcp::Socket>(*socket);
                let st = match s.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => state::CONNECTING,
                    tcp::State::Established | tcp::State::FinWait1 | tcp::State::FinWait2 => state::CONNECTED,
                    tcp::State::CloseWait => state::PEER_CLOSED,
                    _ => state::CLOSED,
                };
                let (ip, port) = s.remote_endpoint().map_or((0, 0), |p| (endpoint_ip(&p), p.port as u64));
                Ok([st, ip, port, *local_port as u64])
            }
            None => Err(Status::BadHandle),
        }
    }

    fn set_option(&mut self, c: usize, h: u64, option: u64, value: u64) -> Result<[u64; 4], Status> {
        let (socket, ..) = self.stream(c, h)?;
        // At most a day: smoltcp adds these to instants, which a client's u64::MAX
        // would overflow.
        let ms = |v: u64| (v != 0).then(|| Duration::from_millis(v.min(MAX_OPTION_MS)));
        match option {
            netproto::option::NODELAY => socket.set_nagle_enabled(value == 0),
            netproto::option::KEEPALIVE_MS => socket.set_keep_alive(ms(value)),
            netproto::option::TIMEOUT_MS => socket.set_timeout(ms(value)),
            _ => return Err(Status::InvalidInput),
        }
        Ok([0; 4])
    }

    /// Drops every socket of client `c` (it stopped being served).
    pub fn drop_client(&mut self, c: usize, now: Instant) {
        self.clients[c].parked = None;
        let entries: Vec<Entry> = self.clients[c].table.iter_mut().filter_map(Option::take).collect();
        for entry in entries {
            self.release(entry, now);
        }
    }

    /// Sockets in use (for reports), and of those, streams still closing.
    pub fn socket_count(&self) -> (usize, usize) {
        (self.sockets.iter().count(), self.closing.len())
    }
}

fn write_poll_answer(buffer: &impl SharedMemory, bits: &[u32]) {
    for (i, b) in bits.iter().enumerate() {
        buffer.write_bytes(i * netproto::POLL_ENTRY + 4, &b.to_le_bytes());
    }
}

fn buffer(bytes: usize) -> Result<Vec<u8>, Status> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes).map_err(|_| Status::OutOfMemory)?;
    v.resize(bytes, 0);
    Ok(v)
}

/// A TCP socket with KaaL's settings: Nagle off (small writes go out at once; the
/// client batches), no ACK delay (smoltcp's default 10 ms delays every request-response
/// exchange).
fn new_tcp() -> Result<tcp::Socket<'static>, Status> {
    let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(buffer(TCP_RX)?), tcp::SocketBuffer::new(buffer(TCP_TX)?));
    socket.set_nagle_enabled(false);
    socket.set_ack_delay(None);
    Ok(socket)
}

/// A socket to listen with: a connection it takes must complete its handshake within
/// [`HANDSHAKE_TIMEOUT`] (else SYNs that are never completed would fill the backlog).
fn new_listening() -> Result<tcp::Socket<'static>, Status> {
    let mut socket = new_tcp()?;
    socket.set_timeout(Some(HANDSHAKE_TIMEOUT));
    Ok(socket)
}

fn new_udp() -> Result<udp::Socket<'static>, Status> {
    let meta = |n| -> Result<Vec<udp::PacketMetadata>, Status> {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| Status::OutOfMemory)?;
        v.resize(n, udp::PacketMetadata::EMPTY);
        Ok(v)
    };
    Ok(udp::Socket::new(
        udp::PacketBuffer::new(meta(UDP_DATAGRAMS)?, buffer(UDP_BYTES)?),
        udp::PacketBuffer::new(meta(UDP_DATAGRAMS)?, buffer(UDP_BYTES)?),
    ))
}
