//! The IPC benchmark's peer: a component in its own address space that serves each
//! phase the measuring root task asks for.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use ipc_bench_protocol as proto;
use kaal_core::component::Component;
use kaal_core::ipc::{Message, Received, Server};
use kaal_core::{sys, Notification};
use kaal_ipc::{BulkLayout, BulkReceiver, Consumer, SharedMemory, Window};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let server = me.server("requests")?;
    let ping = me.notification("ping")?;
    let pong = me.notification("pong")?;
    let shm = me.region("shm")?;
    let data = me.notification("data")?;
    let space = me.notification("space")?;
    let window = |offset, size| Window::new(&shm, offset, size);
    let mut ring: Consumer<u64, _> = Consumer::new(window(proto::RING_OFFSET, 4096)?, proto::RING_CAPACITY)?;
    let layout = BulkLayout::new(proto::BULK_BUFFERS, proto::BULK_BUFFER_BYTES)?;
    let data_bytes = layout.data_bytes() as usize;
    let mut bulk = BulkReceiver::new(
        window(proto::BULK_ACTIVE_OFFSET, proto::BULK_RING_BYTES)?,
        window(proto::BULK_FREE_OFFSET, proto::BULK_RING_BYTES)?,
        window(proto::BULK_DATA_OFFSET, data_bytes)?,
        layout,
    )?;
    let mut request = server.recv();
    loop {
        request = match request.msg.label() {
            proto::PHASE_RAW => raw_loop(&server),
            proto::PHASE_WRAPPED => wrapped_loop(&server),
            proto::PHASE_NOTIFY => {
                server.reply(Message::new(0));
                notify_loop(&ping, &pong);
                server.recv()
            }
            proto::PHASE_ENDPOINT_BULK => endpoint_bulk_loop(&server),
            proto::PHASE_RING => {
                let (count, batch) = (request.msg.word(0), request.msg.word(1) as usize);
                server.reply(Message::new(0));
                let sum = consume_ring(&mut ring, count, batch, &data, &space);
                pong.signal();
                answer_stop(&server, Message::with_words(0, [sum]))
            }
            proto::PHASE_RING_BULK => {
                let rounds = request.msg.word(0);
                server.reply(Message::new(0));
                let total = consume_bulk(&mut bulk, rounds, &data, &space);
                pong.signal();
                answer_stop(&server, Message::with_words(0, [total]))
            }
            proto::DONE => {
                server.reply(Message::new(0));
                return Ok(());
            }
            _ => server.reply_recv(Message::new(0)),
        };
    }
}

/// Raw seL4: each request's word 0 comes back incremented. Returns the unanswered STOP.
fn raw_loop(server: &Server) -> Received {
    // SAFETY: the server side is used only to reply and receive.
    let ep = unsafe { server.raw_cptr() };
    let reply_info = sys::message_info(0, 0, 0, 1);
    // MCS answers through this thread's reply object (0, and ignored, elsewhere).
    let reply = sys::current_reply();
    // SAFETY: ReplyRecv on our own endpoint, with our own reply object, moves only
    // registers.
    let mut r = unsafe { sys::syscall_with_reply(sys::syscall::seL4_SysReplyRecv, ep, reply_info, [0; 4], reply) };
    while r.info.label() != proto::STOP {
        // SAFETY: as above.
        r = unsafe {
            sys::syscall_with_reply(sys::syscall::seL4_SysReplyRecv, ep, reply_info, [r.mr[0] + 1, 0, 0, 0], reply)
        };
    }
    Received { badge: r.badge, msg: Message::from_raw(r.info.0, r.mr) }
}

/// The same through KaaL's typed wrappers.
fn wrapped_loop(server: &Server) -> Received {
    let mut r = server.reply_recv(Message::new(0));
    while r.msg.label() != proto::STOP {
        r = server.reply_recv(Message::with_words(0, [r.msg.word(0) + 1]));
    }
    r
}

/// Answers each ping with a pong until the ping carries the stop bit.
fn notify_loop(ping: &Notification, pong: &Notification) {
    loop {
        let bits = ping.wait();
        if bits & proto::PING_STOP != 0 {
            return;
        }
        pong.signal();
    }
}

/// Receives payload chunks as message words (a long message copies them out of the IPC
/// buffer as it arrives), copies each into its place in a local buffer, sums it, and
/// replies with the sum. The label says which chunk it is.
fn endpoint_bulk_loop(server: &Server) -> Received {
    let mut buffer = [0u64; proto::BULK_BYTES / 8];
    let mut r = server.reply_recv_long(Message::new(0));
    while r.msg.label() != proto::STOP {
        let start = (r.msg.label() as usize).saturating_sub(1) * proto::WORDS_PER_MESSAGE;
        let mut sum = 0u64;
        for i in 0..r.msg.len().min(buffer.len().saturating_sub(start)) {
            let word = r.msg.word(i);
            buffer[start + i] = word;
            sum = sum.wrapping_add(word);
        }
        core::hint::black_box(&buffer);
        r = server.reply_recv_long(Message::with_words(0, [sum]));
    }
    // The STOP request is short; hand it on as one.
    let (info, words) = r.msg.raw();
    Received { badge: r.badge, msg: Message::from_raw(info, words) }
}

/// Pops `count` values, `batch` at a time; returns their sum.
fn consume_ring<M: SharedMemory>(
    ring: &mut Consumer<u64, M>,
    count: u64,
    batch: usize,
    data: &Notification,
    space: &Notification,
) -> u64 {
    let mut buffer = [0u64; 64];
    let batch = batch.clamp(1, buffer.len());
    let (mut received, mut sum) = (0u64, 0u64);
    while received < count {
        let want = batch.min((count - received) as usize);
        match ring.pop_batch_notify(&mut buffer[..want], space) {
            Ok(0) => {
                if ring.request_signal().unwrap_or(false) {
                    data.wait();
                }
            }
            Ok(n) => {
                sum = buffer[..n].iter().fold(sum, |acc, v| acc.wrapping_add(*v));
                received += n as u64;
            }
            Err(_) => return u64::MAX,
        }
    }
    sum
}

/// Receives `rounds` bulk payloads, sums each in place (no copy), releases the
/// buffers; returns the total of all sums.
fn consume_bulk<A: SharedMemory, F: SharedMemory, D: SharedMemory>(
    bulk: &mut BulkReceiver<A, F, D>,
    rounds: u64,
    data: &Notification,
    space: &Notification,
) -> u64 {
    let mut total = 0u64;
    for _ in 0..rounds {
        let sum = bulk.receive_blocking_with(data, space, |region, offset, len| {
            region.fold_u64(offset, len / 8, 0u64, |acc, w| acc.wrapping_add(w))
        });
        match sum {
            Ok(sum) => total = total.wrapping_add(sum),
            Err(_) => return u64::MAX,
        }
    }
    total
}

/// Waits for the root task's STOP, answers it with `result`, and waits for the next
/// request.
fn answer_stop(server: &Server, result: Message) -> Received {
    let _stop = server.recv();
    server.reply_recv(result)
}
