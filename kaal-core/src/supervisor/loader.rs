//! Loading a component's ELF image into its new address space.
//!
//! Component images are embedded in the root task ([`crate::component_image!`]),
//! because the kernel loads only one boot module. Every header field the loader relies
//! on is checked first, so a corrupt or foreign image is an [`Error::BadImage`] naming
//! the component, never a panic inside the ELF parser.

use kaal_abi::startup;

use crate::error::{Error, Result};
use crate::vspace::{Frame, ObjectAllocator, ReadOnly, ReadWrite, VSpace, PAGE_SIZE};

/// An ELF image aligned for parsing in place. Made by [`crate::component_image!`].
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct AlignedImage<const N: usize>(pub [u8; N]);

/// Embeds the ELF image of the component crate `$package`, which `kaal build` built and
/// named in `KAAL_COMPONENT_<package>`. Evaluates to a `&'static [u8]`.
#[macro_export]
macro_rules! component_image {
    ($package:literal) => {{
        const BYTES: &[u8] = include_bytes!(env!(concat!("KAAL_COMPONENT_", $package)));
        static IMAGE: $crate::supervisor::AlignedImage<{ BYTES.len() }> =
            $crate::supervisor::AlignedImage(*include_bytes!(env!(concat!("KAAL_COMPONENT_", $package))));
        &IMAGE.0 as &'static [u8]
    }};
}

fn bad(name: &'static str, why: &'static str) -> Error {
    Error::BadImage { component: name, why }
}

/// Validates what xmas-elf would otherwise assert on, so a corrupt image is an error.
fn check_elf_layout(name: &'static str, image: &[u8]) -> Result<()> {
    let bad = |why| Err(bad(name, why));
    if image.starts_with(b"KAAL-PLACEHOLDER") {
        return bad("the root task was built without `cargo kaal build`, so this component is a placeholder");
    }
    if image.len() < 64 || &image[..4] != b"\x7fELF" {
        return bad("not an ELF file");
    }
    if image[4] != 2 || image[5] != 1 {
        return bad("not a 64-bit little-endian ELF file");
    }
    if u16::from_le_bytes([image[18], image[19]]) != 0x3e {
        return bad("not an x86_64 ELF file");
    }
    if !(image.as_ptr() as usize).is_multiple_of(8) {
        return bad("image is not 8-byte aligned in memory; embed it with kaal_core::component_image!");
    }
    let ph_offset = u64::from_le_bytes(image[32..40].try_into().unwrap_or([0xff; 8]));
    let ph_entry = u16::from_le_bytes([image[54], image[55]]) as u64;
    let ph_count = u16::from_le_bytes([image[56], image[57]]) as u64;
    if ph_entry != 56 || ph_offset % 8 != 0 {
        return bad("unexpected program header layout");
    }
    if ph_offset.checked_add(ph_entry * ph_count).is_none_or(|end| end > image.len() as u64) {
        return bad("program headers run past the end of the file");
    }
    Ok(())
}

/// Parses `image` after checking its headers.
pub(super) fn parse<'i>(name: &'static str, image: &'i [u8]) -> Result<xmas_elf::ElfFile<'i>> {
    check_elf_layout(name, image)?;
    xmas_elf::ElfFile::new(image).map_err(|why| bad(name, why))
}

/// Fills frames with page contents through a window in the root task's own address
/// space, then hands them over unmapped.
pub(super) struct Stager {
    pub vspace: VSpace,
    pub vaddr: u64,
}

impl Stager {
    /// Copies `data` into a new frame and returns it unmapped.
    pub fn frame(&mut self, alloc: &mut impl ObjectAllocator, data: &[u8]) -> Result<Frame> {
        let frame: Frame = alloc.allocate()?;
        let mut mapped = frame.map(&mut self.vspace, self.vaddr, ReadWrite, alloc)?;
        let bytes = mapped.as_bytes_mut()?;
        bytes[..data.len()].copy_from_slice(data);
        bytes[data.len()..].fill(0);
        Ok(mapped.unmap())
    }
}

/// Maps every loadable segment of `elf` (parsed from `image`) into `vspace`, each
/// page staged with its contents; returns the entry point.
pub(super) fn load(
    name: &'static str,
    elf: &xmas_elf::ElfFile<'_>,
    image: &[u8],
    vspace: &mut VSpace,
    stager: &mut Stager,
    alloc: &mut impl ObjectAllocator,
) -> Result<u64> {
    for ph in elf.program_iter() {
        if ph.get_type() != Ok(xmas_elf::program::Type::Load) {
            continue;
        }
        let (vaddr, mem, file, offset) = (ph.virtual_addr(), ph.mem_size(), ph.file_size(), ph.offset());
        if vaddr % PAGE_SIZE as u64 != 0 {
            return Err(bad(name, "a segment is not page aligned; link components with kaal_sel4::link"));
        }
        if file > mem || offset.checked_add(file).is_none_or(|e| e > image.len() as u64) {
            return Err(bad(name, "a segment's file data runs past the end of the file"));
        }
        if vaddr.checked_add(mem).is_none_or(|e| e > startup::HEAP_BASE) {
            return Err(bad(name, "a segment lies outside the program area"));
        }
        let writable = ph.flags().is_write();
        let data = &image[offset as usize..(offset + file) as usize];
        let mut page = 0;
        while page < mem {
            let from = (page as usize).min(data.len());
            let to = (page as usize + PAGE_SIZE).min(data.len());
            let frame = stager.frame(alloc, &data[from..to])?;
            if writable {
                frame.map(vspace, vaddr + page, ReadWrite, alloc)?.leak();
            } else {
                frame.map(vspace, vaddr + page, ReadOnly, alloc)?.leak();
            }
            page += PAGE_SIZE as u64;
        }
    }
    Ok(elf.header.pt2.entry_point())
}
