//! KaaL's boot tests live in `boot/`; the systems they boot that are not lessons or
//! examples live in `systems/`. Run them with `cargo kaal test`.
