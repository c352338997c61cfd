//! Loom models of kaal-ipc live in `tests/loom.rs`.
