//! Rings a component was granted by name (`[connections.rings.NAME]` in system.toml).
//!
//! The root task makes each ring's shared region and its two notifications, and grants
//! them under the names the boot plan fixes (see `kaal_abi::plan`): the region `NAME`
//! (which records the ring's slot count and item size), `NAME:data` (the producer
//! signals it, the consumer waits on it) and `NAME:space` (the other way round). The
//! helpers here take all three and check that the component's item type has the size
//! system.toml gave the ring:
//!
//! ```ignore
//! let mut log = kaal_ipc::ring_grant::sender::<LogRecord>(&mut me, "log")?;
//! log.send(record)?;                       // sleeps only while the ring is full
//! ```

use bytemuck::Pod;
use kaal_core::component::{parts, Component, Name};
use kaal_core::time::{Duration, Instant, Timer, WakeTarget};
use kaal_core::{Error, Notification};

use crate::ring::{Consumer, Producer, RingError};
use crate::sel4::{RingConsumer, RingProducer};

/// The name of one of ring `ring`'s notifications (`ring:data`, `ring:space`).
fn part(ring: &str, suffix: &str) -> Result<Name, Error> {
    Name::joined(ring, suffix).ok_or(Error::NotGranted { name: Name::truncated(ring) })
}

/// Takes ring `name`'s region and checks its geometry against `T`.
fn ring_region<T: Pod>(me: &mut Component, name: &str) -> Result<(kaal_core::shared::SharedRegion, u32), Error> {
    let (region, info) = me.region_with_info(name)?;
    let entry_name = Name::truncated(name);
    if info.ring_slots == 0 {
        return Err(Error::WrongGrantKind { name: entry_name, expected: "a ring", granted: "a shared region" });
    }
    let used = core::mem::size_of::<T>() as u32;
    if info.ring_item_size != used {
        return Err(Error::RingItemSize { name: entry_name, granted: info.ring_item_size, used });
    }
    Ok((region, info.ring_slots))
}

fn layout_error(e: crate::LayoutError) -> Error {
    match e {
        crate::LayoutError::RegionTooSmall { needed, available } => Error::InvalidSize {
            what: "ring (bytes its region must hold)",
            value: needed as u64,
            limit: available as u64,
        },
        crate::LayoutError::InvalidCapacity { capacity } => {
            Error::InvalidSize { what: "ring capacity (a power of two)", value: capacity as u64, limit: 1 << 16 }
        }
        crate::LayoutError::TooLarge { capacity, .. } => {
            Error::InvalidSize { what: "ring capacity", value: capacity as u64, limit: 1 << 16 }
        }
    }
}

/// Why a timed receive failed: the ring (its peer corrupted it) or the time service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimedRecvError {
    Ring(RingError),
    Time(Error),
}

impl From<RingError> for TimedRecvError {
    fn from(e: RingError) -> Self {
        TimedRecvError::Ring(e)
    }
}

impl From<Error> for TimedRecvError {
    fn from(e: Error) -> Self {
        TimedRecvError::Time(e)
    }
}

impl core::fmt::Display for TimedRecvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TimedRecvError::Ring(e) => write!(f, "{e}"),
            TimedRecvError::Time(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for TimedRecvError {}

/// The producing end of a granted ring, with its notifications.
pub struct RingSender<T> {
    ring: RingProducer<T>,
    data: Notification,
    space: Notification,
}

/// The consuming end of a granted ring, with its notifications.
pub struct RingReceiver<T> {
    ring: RingConsumer<T>,
    data: Notification,
    space: Notification,
    /// The data notification's registration with the time service, once a timed wait
    /// made one.
    target: Option<WakeTarget>,
}

impl<T: Pod> core::fmt::Debug for RingSender<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RingSender({} slots)", self.ring.layout().capacity())
    }
}

impl<T: Pod> core::fmt::Debug for RingReceiver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RingReceiver({} slots)", self.ring.layout().capacity())
    }
}

/// The producing end of ring `name`.
pub fn sender<T: Pod>(me: &mut Component, name: &str) -> Result<RingSender<T>, Error> {
    let (region, slots) = ring_region::<T>(me, name)?;
    let data = me.notification(part(name, parts::RING_DATA)?.as_str())?;
    let space = me.notification(part(name, parts::RING_SPACE)?.as_str())?;
    let ring = Producer::new(region, slots).map_err(layout_error)?;
    Ok(RingSender { ring, data, space })
}

/// The consuming end of ring `name`.
pub fn receiver<T: Pod>(me: &mut Component, name: &str) -> Result<RingReceiver<T>, Error> {
    let (region, slots) = ring_region::<T>(me, name)?;
    let data = me.notification(part(name, parts::RING_DATA)?.as_str())?;
    let space = me.notification(part(name, parts::RING_SPACE)?.as_str())?;
    let ring = Consumer::new(region, slots).map_err(layout_error)?;
    Ok(RingReceiver { ring, data, space, target: None })
}

impl<T: Pod> RingSender<T> {
    /// Sends `item`, sleeping while the ring is full; wakes the consumer only if it is
    /// asleep.
    pub fn send(&mut self, item: T) -> Result<(), RingError> {
        self.ring.push_blocking(item, &self.data, &self.space)
    }

    /// Sends `item` if there is room: `Ok(false)` if the ring is full.
    pub fn try_send(&mut self, item: T) -> Result<bool, RingError> {
        match self.ring.push_notify(item, &self.data) {
            Ok(()) => Ok(true),
            Err(RingError::Full) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends all of `items`, waking the consumer at most once per batch that fits.
    pub fn send_batch(&mut self, items: &[T]) -> Result<(), RingError> {
        self.ring.push_batch_blocking(items, &self.data, &self.space)
    }

    /// The ring's capacity in items.
    pub fn capacity(&self) -> u32 {
        self.ring.layout().capacity()
    }

    /// Free slots now (the consumer may free more at any time, never fewer).
    pub fn free(&self) -> Result<u32, RingError> {
        Ok(self.ring.layout().capacity() - self.ring.occupied()?)
    }
}

impl<T: Pod> RingReceiver<T> {
    /// The next item, sleeping while the ring is empty; wakes the producer only if it is
    /// waiting for space.
    pub fn recv(&mut self) -> Result<T, RingError> {
        self.ring.pop_blocking(&self.data, &self.space)
    }

    /// The next item, sleeping while the ring is empty but no longer than `timeout`:
    /// `Ok(None)` if nothing came by then. The first timed wait registers the ring's
    /// notification with the time service (`timer`), so the wait ends by the deadline
    /// whether or not the producer signals.
    pub fn recv_timeout(&mut self, timer: &Timer, timeout: Duration) -> Result<Option<T>, TimedRecvError> {
        if let Some(item) = self.ring.pop_notify(&self.space)? {
            return Ok(Some(item));
        }
        let target = match self.target {
            Some(target) => target,
            None => *self.target.insert(timer.register(&self.data)?),
        };
        let at = Instant::now().checked_add(timeout).ok_or(Error::InvalidSize {
            what: "ring wait timeout (ns)",
            value: timeout.as_nanos().min(u64::MAX as u128) as u64,
            limit: u64::MAX,
        })?;
        timer.wake_at(at, target)?;
        let item = self.ring.pop_until(&self.data, &self.space, || Instant::now() >= at)?;
        if item.is_some() {
            // Woken by the producer: the deadline's signal is not needed any more.
            timer.cancel(target)?;
        }
        Ok(item)
    }

    /// The next item if there is one.
    pub fn try_recv(&mut self) -> Result<Option<T>, RingError> {
        self.ring.pop_notify(&self.space)
    }

    /// Fills `out` with what is there, sleeping until at least one item is; returns how
    /// many it took.
    pub fn recv_batch(&mut self, out: &mut [T]) -> Result<usize, RingError> {
        self.ring.pop_batch_blocking(out, &self.data, &self.space)
    }

    /// The ring's capacity in items.
    pub fn capacity(&self) -> u32 {
        self.ring.layout().capacity()
    }
}
