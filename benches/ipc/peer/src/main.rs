//! The IPC benchmark's peer: a component in its own address space that serves each
//! phase the measuring root task asks for.
#![no_std]
#![no_main]

use ipc_bench_protocol as proto;
use kaal_core::component::Component;
use kaal_core::ipc::{Message, Received, Server};
use kaal_core::{sys, Error, Notification};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let server = me.server("requests")?;
    let ping = me.notification("ping")?;
    let pong = me.notification("pong")?;
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
    let ep = server.endpoint().cptr();
    let reply_info = sys::message_info(0, 0, 0, 1);
    // SAFETY: ReplyRecv on our own endpoint moves only registers.
    let mut r = unsafe { sys::syscall(sys::syscall::seL4_SysReplyRecv, ep, reply_info, [0; 4]) };
    while r.info.label() != proto::STOP {
        // SAFETY: as above.
        r = unsafe { sys::syscall(sys::syscall::seL4_SysReplyRecv, ep, reply_info, [r.mr[0] + 1, 0, 0, 0]) };
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

/// Receives payload chunks as message words and replies with their checksum.
fn endpoint_bulk_loop(server: &Server) -> Received {
    let mut r = server.reply_recv(Message::new(0));
    while r.msg.label() != proto::STOP {
        let mut sum = 0;
        for i in 0..r.msg.len() {
            sum = proto::checksum(sum, r.msg.word(i));
        }
        r = server.reply_recv(Message::with_words(0, [sum]));
    }
    r
}
