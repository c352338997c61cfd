//! The block protocol: how a client asks a block driver for reads and writes.
//!
//! Modelled on sDDF's block queues: two rings and a shared data region.
//!
//! - The **request ring** carries [`BlockRequest`]s from the client to the driver. Each
//!   names an operation, blocks of [`BLOCK_SIZE`] bytes on the disk, and where in the
//!   data region the bytes go (a read) or come from (a write).
//! - The **response ring** carries one [`BlockResponse`] back per request, with the
//!   request's `id` and a status.
//!
//! Several requests may be in flight; responses may come back in any order. The driver
//! takes a request off the ring only when it has a slot for it and the response ring has
//! room for its answer (and every other in flight), so a full queue holds requests back
//! instead of dropping them, and a client that is slow to take answers cannot stall it. A request the driver cannot carry out (outside
//! the disk or the data region, an unknown operation, a write to a read-only disk) is
//! answered with a status that says why. It is never left unanswered.
//!
//! In system.toml the three pieces are ordinary connections: a ring of `BlockRequest`
//! (24-byte items) from client to driver, a ring of `BlockResponse` (16-byte items) back,
//! and a memory region both may write.

use bytemuck::{Pod, Zeroable};

/// Bytes per block: the transfer unit of requests (as in sDDF).
pub const BLOCK_SIZE: usize = 4096;

/// Operations.
pub mod op {
    /// Read `count` blocks into the data region.
    pub const READ: u32 = 1;
    /// Write `count` blocks from the data region.
    pub const WRITE: u32 = 2;
    /// Make every completed write durable (`count` and `offset` are ignored).
    pub const FLUSH: u32 = 3;
    /// Describe the disk: the response's `count` is its size in blocks (at most
    /// `u32::MAX`), its `flags` say whether it is read-only ([`super::flags`]).
    pub const INFO: u32 = 4;
}

/// Statuses.
pub mod status {
    pub const OK: u32 = 0;
    /// The device reported an error.
    pub const IO_ERROR: u32 = 1;
    /// Blocks outside the disk, or `count` of 0.
    pub const OUT_OF_RANGE: u32 = 2;
    /// `offset` and `count` reach outside the data region, or `offset` is not
    /// block-aligned.
    pub const BAD_BUFFER: u32 = 3;
    /// An operation the driver does not know.
    pub const UNSUPPORTED: u32 = 4;
    /// A write to a read-only disk.
    pub const READ_ONLY: u32 = 5;
    /// More blocks than the driver moves in one request (its limit; split the request).
    pub const TOO_LARGE: u32 = 6;
}

/// Bits of a response's `flags`.
pub mod flags {
    /// (INFO) The disk is read-only.
    pub const READ_ONLY: u32 = 1;
}

/// What a status means, for messages.
pub fn describe(status: u32) -> &'static str {
    match status {
        status::OK => "done",
        status::IO_ERROR => "the device reported an I/O error",
        status::OUT_OF_RANGE => "the blocks are outside the disk (or the count is 0)",
        status::BAD_BUFFER => "the buffer is outside the data region or not block-aligned",
        status::UNSUPPORTED => "the driver does not know this operation",
        status::READ_ONLY => "the disk is read-only",
        status::TOO_LARGE => "the request moves more blocks than the driver takes at once (split it)",
        _ => "an unknown status",
    }
}

/// One request (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockRequest {
    /// [`op`].
    pub op: u32,
    /// The client's name for the request, returned in its response.
    pub id: u32,
    /// First block.
    pub block: u64,
    /// Blocks.
    pub count: u32,
    /// Bytes into the data region.
    pub offset: u32,
}

/// One response (16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockResponse {
    /// The request's `id`.
    pub id: u32,
    /// [`status`].
    pub status: u32,
    /// Blocks done (INFO: the disk's size in blocks).
    pub count: u32,
    /// [`flags`] (INFO only; 0 otherwise).
    pub flags: u32,
}

impl BlockRequest {
    /// Checks the request against a disk of `capacity` blocks (`read_only` or not) and a
    /// data region of `data_len` bytes: the byte range in the region it uses, or the
    /// status to answer with.
    pub fn check(&self, capacity: u64, read_only: bool, data_len: usize) -> Result<core::ops::Range<usize>, u32> {
        match self.op {
            op::FLUSH | op::INFO => return Ok(0..0),
            op::READ => {}
            op::WRITE if read_only => return Err(status::READ_ONLY),
            op::WRITE => {}
            _ => return Err(status::UNSUPPORTED),
        }
        let end = self.block.checked_add(self.count as u64).ok_or(status::OUT_OF_RANGE)?;
        if self.count == 0 || end > capacity {
            return Err(status::OUT_OF_RANGE);
        }
        let start = self.offset as usize;
        let bytes = (self.count as usize).checked_mul(BLOCK_SIZE).ok_or(status::BAD_BUFFER)?;
        let stop = start.checked_add(bytes).filter(|stop| *stop <= data_len).ok_or(status::BAD_BUFFER)?;
        if !start.is_multiple_of(BLOCK_SIZE) {
            return Err(status::BAD_BUFFER);
        }
        Ok(start..stop)
    }

    /// The response that says `status` about this request.
    pub fn answer(&self, status: u32) -> BlockResponse {
        let count = if status == status::OK { self.count } else { 0 };
        BlockResponse { id: self.id, status, count, flags: 0 }
    }

    /// The answer to an INFO request about a disk of `capacity` blocks.
    pub fn info(&self, capacity: u64, read_only: bool) -> BlockResponse {
        let flags = if read_only { flags::READ_ONLY } else { 0 };
        BlockResponse { id: self.id, status: status::OK, count: capacity.min(u32::MAX as u64) as u32, flags }
    }
}

/// A client's end of a block driver: the request ring, the response ring and the data
/// region, as system.toml granted them.
pub struct BlockClient {
    requests: crate::ring_grant::RingSender<BlockRequest>,
    responses: crate::ring_grant::RingReceiver<BlockResponse>,
    data: kaal_core::shared::SharedRegion,
}

impl core::fmt::Debug for BlockClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BlockClient({} bytes of data region)", self.data.size())
    }
}

impl BlockClient {
    /// The rings `requests` and `responses` and the region `data` granted to `me`.
    pub fn granted(
        me: &mut kaal_core::component::Component,
        requests: &str,
        responses: &str,
        data: &str,
    ) -> Result<Self, kaal_core::Error> {
        Ok(BlockClient {
            requests: crate::ring_grant::sender(me, requests)?,
            responses: crate::ring_grant::receiver(me, responses)?,
            data: me.region(data)?,
        })
    }

    /// The shared data region requests read from and write into.
    pub fn data(&self) -> &kaal_core::shared::SharedRegion {
        &self.data
    }

    /// Queues `request` if the request ring has room: `Ok(false)` if it is full (the
    /// request was not sent; send it again after taking responses).
    pub fn submit(&mut self, request: BlockRequest) -> Result<bool, crate::RingError> {
        self.requests.try_send(request)
    }

    /// The next response, sleeping until one comes.
    pub fn wait(&mut self) -> Result<BlockResponse, crate::RingError> {
        self.responses.recv()
    }

    /// The next response, sleeping no longer than `timeout`: `Ok(None)` if none came by
    /// then (a driver that stopped, or a very slow device). The component needs `time =
    /// true` for `timer`.
    pub fn wait_timeout(
        &mut self,
        timer: &kaal_core::time::Timer,
        timeout: kaal_core::time::Duration,
    ) -> Result<Option<BlockResponse>, crate::ring_grant::TimedRecvError> {
        self.responses.recv_timeout(timer, timeout)
    }

    /// Sends `request` (waiting for room) and waits for its answer: the status. Other
    /// requests must not be in flight, or their answers would be taken here.
    pub fn call(&mut self, request: BlockRequest) -> Result<u32, crate::RingError> {
        Ok(self.exchange(request)?.status)
    }

    /// The disk's size in blocks and whether it is read-only (an INFO request; nothing
    /// else may be in flight).
    pub fn info(&mut self) -> Result<(u64, bool), crate::RingError> {
        let response = self.exchange(BlockRequest { op: op::INFO, id: u32::MAX, block: 0, count: 0, offset: 0 })?;
        Ok((response.count as u64, response.flags & flags::READ_ONLY != 0))
    }

    fn exchange(&mut self, request: BlockRequest) -> Result<BlockResponse, crate::RingError> {
        self.requests.send(request)?;
        loop {
            let response = self.responses.recv()?;
            if response.id == request.id {
                return Ok(response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(block: u64, count: u32, offset: u32) -> BlockRequest {
        BlockRequest { op: op::READ, id: 7, block, count, offset }
    }

    #[test]
    fn checks_every_field_of_a_request() {
        let (capacity, data) = (100, 16 * BLOCK_SIZE);
        assert_eq!(read(0, 16, 0).check(capacity, false, data), Ok(0..data));
        assert_eq!(read(99, 1, 4096).check(capacity, false, data), Ok(4096..8192));
        assert_eq!(read(100, 1, 0).check(capacity, false, data), Err(status::OUT_OF_RANGE));
        assert_eq!(read(u64::MAX, 2, 0).check(capacity, false, data), Err(status::OUT_OF_RANGE));
        assert_eq!(read(0, 0, 0).check(capacity, false, data), Err(status::OUT_OF_RANGE));
        assert_eq!(read(0, 17, 0).check(capacity, false, data), Err(status::BAD_BUFFER));
        assert_eq!(read(0, 1, u32::MAX).check(capacity, false, data), Err(status::BAD_BUFFER));
        assert_eq!(read(0, 1, 100).check(capacity, false, data), Err(status::BAD_BUFFER));
        let write = BlockRequest { op: op::WRITE, ..read(0, 1, 0) };
        assert_eq!(write.check(capacity, true, data), Err(status::READ_ONLY));
        assert_eq!(write.check(capacity, false, data), Ok(0..4096));
        assert_eq!(BlockRequest { op: 9, ..read(0, 1, 0) }.check(capacity, false, data), Err(status::UNSUPPORTED));
        assert_eq!(BlockRequest { op: op::FLUSH, ..read(0, 0, 0) }.check(capacity, false, data), Ok(0..0));
        assert_eq!(read(0, 3, 0).answer(status::BAD_BUFFER), BlockResponse { id: 7, status: 3, count: 0, flags: 0 });
        assert_eq!(core::mem::size_of::<BlockRequest>(), 24);
        assert_eq!(core::mem::size_of::<BlockResponse>(), 16);
    }
}
