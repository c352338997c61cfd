// A notification is not an endpoint: no `call`, and not accepted where one is due.
use kaal_core::ipc::Message;
use kaal_core::{Endpoint, Notification};

fn wants_endpoint(_: &Endpoint) {}

fn confuse(n: &Notification) {
    n.call(Message::new(0));
    wants_endpoint(n);
}

fn main() {}
