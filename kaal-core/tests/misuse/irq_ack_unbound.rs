// An IRQ handler bound to no notification cannot be acknowledged or waited on.
use kaal_core::IrqHandler;

fn ack(handler: &IrqHandler) {
    let _ = handler.ack();
    let _ = handler.wait();
}

fn main() {}
