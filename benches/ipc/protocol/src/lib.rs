//! What the IPC benchmark's root task (which measures) and peer component (which
//! serves) agree on. Phases are requested with a call carrying the phase's label.
#![no_std]
#![forbid(unsafe_code)]

/// Round trips with raw `seL4_Call` / `seL4_ReplyRecv`.
pub const PHASE_RAW: u64 = 1;
/// Round trips with KaaL's `Client::call` / `Server::reply_recv`.
pub const PHASE_WRAPPED: u64 = 2;
/// Notification ping-pong.
pub const PHASE_NOTIFY: u64 = 3;
/// 10 KiB transfers as endpoint messages.
pub const PHASE_ENDPOINT_BULK: u64 = 4;
/// Ring messages, one at a time.
pub const PHASE_RING: u64 = 5;
/// 10 KiB transfers through a bulk buffer and a descriptor ring.
pub const PHASE_RING_BULK: u64 = 6;
/// Ends the current phase's loop.
pub const STOP: u64 = 0xf;
/// Ends the benchmark.
pub const DONE: u64 = 0xe;

/// Badge bits on the "ping" notification.
pub const PING_GO: u64 = 1;
pub const PING_STOP: u64 = 2;

/// Bytes in one bulk transfer.
pub const BULK_BYTES: usize = 10 * 1024;
/// Message registers in one endpoint message (seL4_MsgMaxLength).
pub const WORDS_PER_MESSAGE: usize = 120;

/// The payload word `i` of transfer `round`.
pub fn payload_word(round: u64, i: u64) -> u64 {
    round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i
}

/// The shared region: a message ring, the bulk rings and the bulk data.
pub const RING_OFFSET: usize = 0;
pub const RING_CAPACITY: u32 = 256;
pub const BULK_ACTIVE_OFFSET: usize = 4096;
pub const BULK_FREE_OFFSET: usize = 8192;
pub const BULK_RING_BYTES: usize = 4096;
pub const BULK_DATA_OFFSET: usize = 16384;
pub const BULK_BUFFERS: u32 = 8;
pub const BULK_BUFFER_BYTES: u32 = 16384;
pub const REGION_BYTES: usize = BULK_DATA_OFFSET + (BULK_BUFFERS * BULK_BUFFER_BYTES) as usize;
