// A client calls and sends; it cannot receive the server's requests, directly or
// through its endpoint.
use kaal_core::ipc::Client;

fn eavesdrop(client: &Client) {
    let _ = client.recv();
    let _ = client.endpoint().recv();
}

fn main() {}
