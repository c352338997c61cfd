//! The pipeline's calculator server: answers ADD, MUL and DIV on the `calc` channel and
//! logs every request, answered or refused, to the logger over the `log` ring. It never
//! trusts a request: a wrong length or an unknown label gets BAD_REQUEST.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::println;
use pipeline_api::{self as api, LogRecord};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let calc = me.server("calc")?;
    let mut log = kaal_ipc::ring_grant::sender::<LogRecord>(&mut me, "log")?;
    println!("[{name}] serving `calc`, logging to a ring of {} records", log.capacity());
    let mut seq = 0;
    let mut request = calc.recv();
    loop {
        let (client, msg) = (request.badge, request.msg);
        let (op, a, b) = (msg.label(), msg.word(0), msg.word(1));
        if op == api::SHUTDOWN && msg.is_empty() {
            log.send(LogRecord { seq, client, op: api::END, a: 0, b: 0, result: 0, status: api::OK })?;
            println!("[{name}] client {client} is done; served {seq} requests");
            defmt::info!("served {=u64} requests, the last from client {=u64}", seq, client);
            calc.reply(Message::new(api::OK));
            return Ok(());
        }
        let answer = if msg.len() == 2 { api::apply(op, a, b) } else { Err(api::BAD_REQUEST) };
        let (status, result) = match answer {
            Ok(result) => (api::OK, result),
            Err(status) => (status, 0),
        };
        log.send(LogRecord { seq, client, op, a, b, result, status })?;
        // The per-request trace is cheap (defmt: no formatting here) and shown only
        // when system.toml sets `log = "debug"` for this component.
        defmt::debug!("request {=u64} from client {=u64}: op {=u64} -> status {=u64}", seq, client, op, status);
        seq += 1;
        let reply = if status == api::OK { Message::with_words(api::OK, [result]) } else { Message::new(status) };
        request = calc.reply_recv(reply);
    }
}
