//! Never built: this package only carries the seL4 kernel source (see Cargo.toml).
