//! Host tests of the stack's logic: two stacks wired back to back through the NIC
//! queues (each with a simulated driver), real smoltcp on both; and a stack fed random,
//! truncated and corrupted frames and hostile descriptors.

extern crate std;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::Ordering;

use kaal_ipc::net::{self, DriverQueues, NetBuffer, StackQueues};
use kaal_ipc::SharedMemory;
use kaal_posix::netproto::{self, op, ready, Status};
use kaal_posix::proto::{Request, Response};
use smoltcp::time::Instant;

use crate::config::{Address, Client, Config};
use crate::device::NicDevice;
use crate::stack::Stack;

/// Shared memory for one thread: plain bytes.
struct Mem(RefCell<Vec<u8>>);

impl Mem {
    fn new(size: usize) -> Mem {
        Mem(RefCell::new(alloc::vec![0; size]))
    }
}

impl SharedMemory for Mem {
    fn size(&self) -> usize {
        self.0.borrow().len()
    }
    fn load_u32(&self, offset: usize, _: Ordering) -> u32 {
        let b = self.0.borrow();
        u32::from_le_bytes(b[offset..offset + 4].try_into().unwrap())
    }
    fn store_u32(&self, offset: usize, value: u32, _: Ordering) {
        self.0.borrow_mut()[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }
    fn fence(&self, _: Ordering) {}
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0.borrow()[offset..offset + out.len()]);
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.0.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// The driver's side of one NIC, simulated: it takes the stack's receive buffers and
/// hands them back filled with the frames it is given, and collects what is sent.
struct Driver<'a> {
    q: DriverQueues<&'a Mem>,
    buffers: &'a Mem,
    posted: VecDeque<NetBuffer>,
}

impl Driver<'_> {
    fn absorb(&mut self) {
        while let Some((b, _)) = self.q.rx_free.pop().unwrap() {
            self.posted.push_back(b);
        }
    }

    /// Delivers `frame` (any length: the driver trusts nothing either) if a buffer is
    /// posted; returns whether it did.
    fn deliver(&mut self, frame: &[u8]) -> bool {
        self.absorb();
        let Some(b) = self.posted.pop_front() else { return false };
        let len = frame.len().min(net::BUFFER_SIZE);
        self.buffers.write_bytes(b.offset as usize, &frame[..len]);
        let _ = self.q.rx_active.push(NetBuffer { offset: b.offset, len: frame.len() as u32 }).unwrap();
        true
    }

    /// Pushes a raw descriptor, as a hostile driver could.
    fn push_raw(&mut self, d: NetBuffer) {
        let _ = self.q.rx_active.push(d);
    }

    fn sent(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((b, _)) = self.q.tx_active.pop().unwrap() {
            let mut frame = alloc::vec![0; b.len as usize];
            self.buffers.read_bytes(b.offset as usize, &mut frame);
            out.push(frame);
            let _ = self.q.tx_free.push(NetBuffer { len: 0, ..b }).unwrap();
        }
        out
    }
}

type Dev<'a> = NicDevice<&'a Mem, &'a Mem>;

/// One host: its stack, device, simulated driver and one client's data area.
struct Host<'a> {
    stack: Stack,
    device: Dev<'a>,
    driver: Driver<'a>,
    data: Mem,
    next_id: u32,
}

fn memories() -> (Mem, Mem) {
    (Mem::new(net::QUEUES_BYTES), Mem::new(net::BUFFERS_BYTES))
}

fn host<'a>(queues: &'a Mem, buffers: &'a Mem, ip: [u8; 4], mac: u8, client: Client, t: Instant) -> Host<'a> {
    let mut device = NicDevice::new(StackQueues::attach(queues).unwrap(), buffers).unwrap();
    let config = Config {
        nic: "e1000".into(),
        address: Address::Static { address: ip, prefix: 24, gateway: None },
        clients: alloc::vec![client],
    };
    let stack = Stack::new(&config, [2, 0, 0, 0, 0, mac], &mut device, t, mac as u64);
    let driver = Driver { q: DriverQueues::attach(queues).unwrap(), buffers, posted: VecDeque::new() };
    Host { stack, device, driver, data: Mem::new(64 * 1024), next_id: 0 }
}

fn client(listen: &[u16], connect: &[u16]) -> Client {
    Client { index: 0, name: "app".into(), listen: listen.to_vec(), connect: connect.to_vec() }
}

impl Host<'_> {
    fn call(&mut self, op: u32, words: [u64; 4], t: Instant) -> Option<Response> {
        self.next_id += 1;
        let request = Request { op, id: self.next_id, words };
        self.stack.request(0, &request, &self.data, t)
    }

    fn ok(&mut self, op: u32, words: [u64; 4], t: Instant) -> [u64; 4] {
        let r = self.call(op, words, t).expect("answered");
        assert_eq!(Status::from_u32(r.status), Status::Ok, "op {op} {words:?}");
        r.words
    }

    fn status(&mut self, op: u32, words: [u64; 4], t: Instant) -> Status {
        Status::from_u32(self.call(op, words, t).expect("answered").status)
    }

    fn step(&mut self, t: Instant) {
        self.device.harvest();
        self.stack.poll(t, &mut self.device);
        self.stack.note_established();
    }
}

/// Runs both hosts for `steps` milliseconds of simulated time, moving frames between
/// them, until `done` holds.
fn run(
    a: &mut Host,
    b: &mut Host,
    t: &mut Instant,
    steps: usize,
    mut done: impl FnMut(&mut Host, &mut Host, Instant) -> bool,
) {
    for _ in 0..steps {
        a.step(*t);
        b.step(*t);
        for frame in a.driver.sent() {
            b.driver.deliver(&frame);
        }
        for frame in b.driver.sent() {
            a.driver.deliver(&frame);
        }
        if done(a, b, *t) {
            return;
        }
        *t += smoltcp::time::Duration::from_millis(1);
    }
    panic!("not done after {steps} steps");
}

const A_IP: u64 = 0x0a00_0001;

#[test]
fn two_stacks_connect_exchange_data_and_close() {
    let mut t = Instant::from_millis(0);
    let (qa, ba) = memories();
    let (qb, bb) = memories();
    let mut a = host(&qa, &ba, [10, 0, 0, 1], 1, client(&[80], &[]), t);
    let mut b = host(&qb, &bb, [10, 0, 0, 2], 2, client(&[], &[80, 9]), t);

    // Grants: A may listen on 80 only, B may connect to 80 and 9 only.
    assert_eq!(a.status(op::TCP_LISTEN, [81, 4, 0, 0], t), Status::PermissionDenied);
    let listener = a.ok(op::TCP_LISTEN, [80, 4, 0, 0], t)[0];
    assert_eq!(a.status(op::TCP_LISTEN, [80, 4, 0, 0], t), Status::AddrInUse);
    assert_eq!(b.status(op::TCP_CONNECT, [A_IP, 81, 0, 0], t), Status::PermissionDenied);
    assert_eq!(a.status(op::TCP_ACCEPT, [listener, 0, 0, 0], t), Status::WouldBlock);

    // Nothing listens on 9: refused.
    let refused = b.ok(op::TCP_CONNECT, [A_IP, 9, 0, 0], t)[0];
    run(&mut a, &mut b, &mut t, 2000, |_, b, t| b.status(op::RECV, [refused, 10, 0, 0], t) != Status::WouldBlock);
    assert_eq!(b.status(op::RECV, [refused, 10, 0, 0], t), Status::ConnectionRefused);
    b.ok(op::CLOSE, [refused, 0, 0, 0], t);

    // A POLL on the listener waits until a connection arrives.
    a.data.write_bytes(0, &(listener as u32).to_le_bytes());
    a.data.write_bytes(4, &ready::READ.to_le_bytes());
    assert!(a.call(op::POLL, [1, netproto::FOREVER, 0, 0], t).is_none(), "parked");
    let stream = b.ok(op::TCP_CONNECT, [A_IP, 80, 0, 0], t)[0];
    run(&mut a, &mut b, &mut t, 2000, |a, _, t| a.stack.poll_parked(0, &a.data, t).is_some());
    let accepted = a.ok(op::TCP_ACCEPT, [listener, 0, 0, 0], t);
    assert_eq!(accepted[1], 0x0a00_0002, "the peer's address");
    let server = accepted[0];

    // 1 MiB from B to A, in whatever pieces the buffers take, intact.
    let total = 1 << 20;
    let pattern = |i: usize| (i * 7 + i / 4096) as u8;
    let (mut sent, mut got) = (0usize, 0usize);
    run(&mut a, &mut b, &mut t, 20_000, |a, b, t| {
        if sent < total {
            let n = (total - sent).min(8192);
            let chunk: Vec<u8> = (sent..sent + n).map(pattern).collect();
            b.data.write_bytes(0, &chunk);
            let r = b.call(op::SEND, [stream, n as u64, 0, 0], t).unwrap();
            match Status::from_u32(r.status) {
                Status::Ok => sent += r.words[0] as usize,
                Status::WouldBlock => {}
                s => panic!("send: {s:?}"),
            }
        }
        let r = a.call(op::RECV, [server, 16384, 0, 0], t).unwrap();
        match Status::from_u32(r.status) {
            Status::Ok => {
                let n = r.words[0] as usize;
                let mut data = alloc::vec![0; n];
                a.data.read_bytes(0, &mut data);
                for (k, byte) in data.iter().enumerate() {
                    assert_eq!(*byte, pattern(got + k), "byte {}", got + k);
                }
                got += n;
            }
            Status::WouldBlock => {}
            s => panic!("recv: {s:?}"),
        }
        got == total
    });

    // B closes; A reads the end of stream (0 bytes), then closes too.
    b.ok(op::CLOSE, [stream, 0, 0, 0], t);
    run(&mut a, &mut b, &mut t, 2000, |a, _, t| a.status(op::RECV, [server, 100, 0, 0], t) == Status::Ok);
    assert_eq!(a.ok(op::RECV, [server, 100, 0, 0], t)[0], 0);
    a.ok(op::CLOSE, [server, 0, 0, 0], t);
    assert_eq!(a.status(op::RECV, [server, 100, 0, 0], t), Status::BadHandle);
    // Every buffer is back where it belongs: none leaked on either side.
    run(&mut a, &mut b, &mut t, 20_000, |a, b, _| a.stack.socket_count().1 == 0 && b.stack.socket_count().1 == 0);
    assert_eq!(a.device.tx_outstanding(), 0);
}

#[test]
fn a_full_socket_table_and_bad_requests_are_refused_cleanly() {
    let t = Instant::from_millis(0);
    let (q, bufs) = memories();
    let mut a = host(&q, &bufs, [10, 0, 0, 1], 1, client(&[], &[]), t);
    for _ in 0..netproto::MAX_SOCKETS {
        a.ok(op::UDP_BIND, [0, 0, 0, 0], t);
    }
    assert_eq!(a.status(op::UDP_BIND, [0, 0, 0, 0], t), Status::TooManySockets);
    assert_eq!(a.status(op::UDP_BIND, [53, 0, 0, 0], t), Status::PermissionDenied, "port 53 is not granted");
    assert_eq!(a.status(op::RECV, [u64::MAX, 10, 0, 0], t), Status::BadHandle);
    assert_eq!(a.status(op::SEND, [0, 1 << 40, 0, 0], t), Status::InvalidInput);
    assert_eq!(a.status(op::RECV, [0, 10, 0, 0], t), Status::BadHandle, "a UDP socket is not a stream");
    assert_eq!(a.status(op::SEND_TO, [0, A_IP, 5353, 4], t), Status::PermissionDenied);
    assert_eq!(a.status(op::POLL, [100_000, 0, 0, 0], t), Status::InvalidInput);
    assert_eq!(a.status(op::POLL, [0, netproto::FOREVER, 0, 0], t), Status::InvalidInput);
    assert_eq!(a.status(999, [0; 4], t), Status::BadRequest);
}

/// A tiny deterministic generator for the frames.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_truncated_and_corrupted_frames_and_hostile_descriptors_are_survived() {
    let mut t = Instant::from_millis(0);
    let (qa, ba) = memories();
    let (qb, bb) = memories();
    let mut a = host(&qa, &ba, [10, 0, 0, 1], 1, client(&[80], &[]), t);
    let mut b = host(&qb, &bb, [10, 0, 0, 2], 2, client(&[], &[80]), t);
    let listener = a.ok(op::TCP_LISTEN, [80, 8, 0, 0], t)[0];

    // Real frames to corrupt: B's ARP request, SYNs and data, recorded.
    let mut recorded: Vec<Vec<u8>> = Vec::new();
    let stream = b.ok(op::TCP_CONNECT, [A_IP, 80, 0, 0], t)[0];
    b.data.write_bytes(0, b"GET / HTTP/1.1\r\n\r\n");
    for _ in 0..200 {
        a.step(t);
        b.step(t);
        let _ = b.call(op::SEND, [stream, 18, 0, 0], t);
        for f in a.driver.sent() {
            b.driver.deliver(&f);
        }
        for f in b.driver.sent() {
            recorded.push(f.clone());
            a.driver.deliver(&f);
        }
        t += smoltcp::time::Duration::from_millis(1);
    }
    assert!(recorded.len() >= 3, "ARP, SYN and data frames were recorded");

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let before = a.device.counts();
    for round in 0..3000 {
        let mut frame = recorded[rng.below(recorded.len())].clone();
        match round % 4 {
            // Random bytes of a random length, including lengths no frame has.
            0 => frame = (0..rng.below(2100)).map(|_| rng.next() as u8).collect(),
            // Truncated.
            1 => frame.truncate(rng.below(frame.len() + 1)),
            // A few bytes flipped (headers, lengths, checksums, options).
            2 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(frame.len());
                    frame[i] ^= 1 << rng.below(8);
                }
            }
            _ => {
                let i = rng.below(frame.len());
                frame[i] = rng.next() as u8;
            }
        }
        a.driver.deliver(&frame);
        if round % 64 == 0 {
            // A hostile driver: descriptors outside the region, misaligned, repeated.
            a.driver.push_raw(NetBuffer { offset: u32::MAX - 7, len: 60 });
            a.driver.push_raw(NetBuffer { offset: 3, len: 60 });
            a.driver.push_raw(NetBuffer { offset: (net::RX_BUFFERS * net::BUFFER_SIZE) as u32, len: 60 });
        }
        a.step(t);
        let _ = a.driver.sent();
        t += smoltcp::time::Duration::from_millis(1);
    }
    let after = a.device.counts();
    assert!(after.bad_descriptors > before.bad_descriptors, "hostile descriptors were counted and dropped");

    // Still alive and not leaking: every receive buffer is back with the driver, and a
    // fresh connection from B still works.
    for _ in 0..10 {
        a.step(t);
        t += smoltcp::time::Duration::from_millis(1);
    }
    a.driver.absorb();
    assert_eq!(a.driver.posted.len(), net::RX_BUFFERS, "no receive buffer leaked");
    let fresh = b.ok(op::TCP_CONNECT, [A_IP, 80, 0, 0], t)[0];
    run(&mut a, &mut b, &mut t, 5000, |a, _, t| a.status(op::TCP_ACCEPT, [listener, 0, 0, 0], t) == Status::Ok);
    let _ = fresh;
}

#[test]
fn a_connect_into_silence_stays_connecting() {
    let mut t = Instant::from_millis(0);
    let (q, bufs) = memories();
    let mut b = host(&q, &bufs, [10, 0, 0, 2], 2, client(&[], &[80]), t);
    let stream = b.ok(op::TCP_CONNECT, [A_IP, 80, 0, 0], t)[0];
    for _ in 0..6000 {
        b.step(t);
        // The wire swallows everything (a driver that died takes the frames).
        let _ = b.driver.q.tx_active.pop();
        t += smoltcp::time::Duration::from_millis(1);
    }
    assert_eq!(b.status(op::RECV, [stream, 10, 0, 0], t), Status::WouldBlock, "still connecting");
    // Past the handshake timeout the server gives up, and says so.
    for _ in 0..15_000 {
        b.step(t);
        let _ = b.driver.q.tx_active.pop();
        t += smoltcp::time::Duration::from_millis(1);
    }
    assert_eq!(b.status(op::RECV, [stream, 10, 0, 0], t), Status::TimedOut);
    // Hostile option values are clamped, not overflowed.
    let other = b.ok(op::TCP_CONNECT, [A_IP, 80, 0, 0], t)[0];
    for option in [netproto::option::KEEPALIVE_MS, netproto::option::TIMEOUT_MS] {
        b.ok(op::SET_OPTION, [other, option, u64::MAX, 0], t);
    }
    b.step(t);
}

#[test]
fn an_icmp_echo_request_is_answered() {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet,
        Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    };
    let mut t = Instant::from_millis(0);
    let (q, bufs) = memories();
    let mut a = host(&q, &bufs, [10, 0, 0, 1], 1, client(&[], &[]), t);
    let (me, peer) = (EthernetAddress([2, 0, 0, 0, 0, 1]), EthernetAddress([2, 0, 0, 0, 0, 9]));
    let (my_ip, peer_ip) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 9));
    let frame = |ethertype, payload_len: usize, fill: &mut dyn FnMut(&mut [u8])| {
        let eth = EthernetRepr { src_addr: peer, dst_addr: me, ethertype };
        let mut bytes = alloc::vec![0u8; eth.buffer_len() + payload_len];
        let mut f = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut f);
        fill(f.payload_mut());
        bytes
    };
    // Who has 10.0.0.1? (so that the stack knows where 10.0.0.9 is), then a ping.
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: peer,
        source_protocol_addr: peer_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: my_ip,
    };
    let arp_frame = frame(EthernetProtocol::Arp, arp.buffer_len(), &mut |p| arp.emit(&mut ArpPacket::new_unchecked(p)));
    let data = b"are you there?";
    let echo = Icmpv4Repr::EchoRequest { ident: 0x4b41, seq_no: 7, data };
    let ip = Ipv4Repr {
        src_addr: peer_ip,
        dst_addr: my_ip,
        next_header: IpProtocol::Icmp,
        payload_len: echo.buffer_len(),
        hop_limit: 64,
    };
    let caps = ChecksumCapabilities::default();
    let ping = frame(EthernetProtocol::Ipv4, ip.buffer_len() + echo.buffer_len(), &mut |p| {
        let mut packet = Ipv4Packet::new_unchecked(p);
        ip.emit(&mut packet, &caps);
        echo.emit(&mut Icmpv4Packet::new_unchecked(packet.payload_mut()), &caps);
    });
    let mut replies = Vec::new();
    for frame in [arp_frame, ping] {
        for _ in 0..5 {
            a.step(t);
            t += smoltcp::time::Duration::from_millis(1);
        }
        assert!(a.driver.deliver(&frame));
        for _ in 0..5 {
            a.step(t);
            replies.extend(a.driver.sent());
            t += smoltcp::time::Duration::from_millis(1);
        }
    }
    let answered = replies.iter().any(|bytes| {
        let Ok(f) = EthernetFrame::new_checked(&bytes[..]) else { return false };
        let Ok(p) = Ipv4Packet::new_checked(f.payload()) else { return false };
        let Ok(icmp) = Icmpv4Packet::new_checked(p.payload()) else { return false };
        matches!(
            Icmpv4Repr::parse(&icmp, &caps),
            Ok(Icmpv4Repr::EchoReply { ident: 0x4b41, seq_no: 7, data: d }) if d == data
        ) && p.dst_addr() == peer_ip
    });
    assert!(answered, "an echo reply to 10.0.0.9 among {} frames sent", replies.len());
}
