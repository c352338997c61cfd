//! The typed seL4 kernel configuration.
//!
//! seL4 5.0.0's standalone Makefile takes its configuration from a single `autoconf.h`.
//! KaaL never edits that header by hand: [`KernelConfig`] is the source of truth, it
//! renders the header ([`KernelConfig::autoconf_h`]) for the kernel build, and it feeds
//! the same `CONFIG_*` definitions to the interface generators ([`KernelConfig::defines`]),
//! so the syscall numbers and invocation labels in `kaal-core` always match the kernel
//! that boots.
//!
//! The defaults are the configuration verified to boot under QEMU's `Nehalem` CPU model:
//! x86_64 pc99, debug build with printing, fastpath, xAPIC + IOAPIC, `syscall`, FXSAVE,
//! MSR-based FS/GS base, 1 GiB pages. PCID, FSGSBASE instructions, IOMMU, VT-x and
//! x2APIC stay off because that CPU model lacks them.

use serde::{Deserialize, Serialize};

/// Kernel settings a KaaL system may change.
///
/// Platform facts that the QEMU machine and CPU model dictate (architecture, APIC mode,
/// FPU save mechanism, ...) are not settings; see [`PLATFORM_DEFINES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelConfig {
    /// log2 of the number of slots in the root task's CNode.
    pub root_cnode_size_bits: u32,
    /// Timer tick in milliseconds.
    pub timer_tick_ms: u32,
    /// Ticks in a thread's time slice.
    pub time_slice: u32,
    /// Maximum number of objects one `Untyped_Retype` may create.
    pub retype_fan_out_limit: u32,
    /// Preemption point granularity for long-running kernel operations.
    pub max_num_work_units_per_preemption: u32,
    /// Size of the untyped list in the BootInfo frame.
    pub max_num_bootinfo_untyped_caps: u32,
    /// Number of thread priorities (0 ..= n-1).
    pub num_priorities: u32,
    /// Number of scheduling domains.
    pub num_domains: u32,
    /// Use the IPC fastpath.
    pub fastpath: bool,
    /// Debug build: enables `seL4_DebugPutChar`, `seL4_DebugCapIdentify`, thread names,
    /// `seL4_DebugHalt` (which any thread may call) and kernel diagnostics on COM1. A
    /// release build (false) has none of them: KaaL then prints through its own 16550
    /// driver on COM1. See [`Flavour`].
    pub debug_build: bool,
    /// Colour kernel diagnostics.
    pub colour_printing: bool,
    /// Report spurious or unhandled interrupts.
    pub irq_reporting: bool,
    /// FPU restores before the kernel switches a thread's FPU state eagerly.
    pub fpu_max_restores_since_switch: u32,
    /// log2 of the kernel stack size.
    pub kernel_stack_bits: u32,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            root_cnode_size_bits: 12,
            timer_tick_ms: 2,
            time_slice: 5,
            retype_fan_out_limit: 256,
            max_num_work_units_per_preemption: 100,
            max_num_bootinfo_untyped_caps: 167,
            num_priorities: 256,
            num_domains: 1,
            fastpath: true,
            debug_build: true,
            colour_printing: true,
            irq_reporting: true,
            fpu_max_restores_since_switch: 64,
            kernel_stack_bits: 12,
        }
    }
}

/// The two kernel builds a system can choose between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// Debug syscalls and kernel printing (`CONFIG_DEBUG_BUILD`, `CONFIG_PRINTING`).
    #[default]
    Debug,
    /// Neither: no thread can halt the machine or read capability types, and the kernel
    /// prints nothing. What untrusted code should run on.
    Release,
}

impl Flavour {
    /// Both, debug first.
    pub const ALL: [Flavour; 2] = [Flavour::Debug, Flavour::Release];

    /// `"debug"` or `"release"`, as system.toml spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Flavour::Debug => "debug",
            Flavour::Release => "release",
        }
    }

    /// Parses a name as system.toml and `--kernel` spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Definitions fixed by the platform KaaL targets (QEMU `pc`, `Nehalem` CPU model).
pub const PLATFORM_DEFINES: &[(&str, &str)] = &[
    ("CONFIG_KERNEL_MASTER", "1"),
    ("CONFIG_ARCH_X86", "1"),
    ("CONFIG_ARCH_X86_64", "1"),
    ("CONFIG_PLAT_PC99", "1"),
    ("CONFIG_WORD_SIZE", "64"),
    ("CONFIG_HAVE_FPU", "1"),
    ("CONFIG_MAX_NUM_NODES", "1"),
    ("CONFIG_CACHE_LN_SZ", "64"),
    ("CONFIG_IRQ_IOAPIC", "1"),
    ("CONFIG_MAX_NUM_IOAPIC", "1"),
    ("CONFIG_XAPIC", "1"),
    ("CONFIG_SYSCALL", "1"),
    ("CONFIG_FXSAVE", "1"),
    ("CONFIG_XSAVE_SIZE", "512"),
    ("CONFIG_FSGSBASE_MSR", "1"),
    ("CONFIG_HUGE_PAGE", "1"),
    ("CONFIG_MULTIBOOT_GRAPHICS_MODE_NONE", "1"),
    ("CONFIG_OPTIMISATION_O2", "1"),
    ("CONFIG_NO_BENCHMARKS", "1"),
    // The Makefile's DEBUG=1 passes -DCONFIG_USER_STACK_TRACE_LENGTH=1; a different
    // value here would be a redefinition error.
    ("CONFIG_USER_STACK_TRACE_LENGTH", "1"),
];

/// Why a [`KernelConfig`] cannot be built or booted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel config: `{key}` = {value} is not supported: {why}")]
pub struct ConfigError {
    /// The offending setting (kebab-case, as written in a config file).
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong and what would work.
    pub why: String,
}

impl KernelConfig {
    /// The default configuration of `flavour`.
    pub fn for_flavour(flavour: Flavour) -> Self {
        match flavour {
            Flavour::Debug => Self::default(),
            Flavour::Release => {
                Self { debug_build: false, colour_printing: false, irq_reporting: false, ..Self::default() }
            }
        }
    }

    /// Which flavour these settings are.
    pub fn flavour(&self) -> Flavour {
        if self.debug_build {
            Flavour::Debug
        } else {
            Flavour::Release
        }
    }

    /// Checks the settings against what seL4 5.0.0 and KaaL's runtime accept.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, value: &dyn ToString, why: &str| {
            Err(ConfigError { key, value: value.to_string(), why: why.to_string() })
        };
        if !(8..=20).contains(&self.root_cnode_size_bits) {
            return err(
                "root-cnode-size-bits",
                &self.root_cnode_size_bits,
                "use 8..=20 (4096 slots, the default, is 12)",
            );
        }
        if !self.debug_build && (self.colour_printing || self.irq_reporting) {
            return err(
                "colour-printing",
                &self.colour_printing,
                "a release kernel prints nothing; colour-printing and irq-reporting need debug-build = true",
            );
        }
        if self.num_priorities == 0 || self.num_priorities > 256 {
            return err("num-priorities", &self.num_priorities, "use 1..=256 (priorities are 8-bit)");
        }
        if self.num_domains == 0 || self.num_domains > 256 {
            return err("num-domains", &self.num_domains, "use 1..=256");
        }
        if self.max_num_bootinfo_untyped_caps < 16 {
            return err(
                "max-num-bootinfo-untyped-caps",
                &self.max_num_bootinfo_untyped_caps,
                "use at least 16, or memory above the first few regions is lost (default 167)",
            );
        }
        if self.timer_tick_ms == 0 || self.time_slice == 0 {
            return err("timer-tick-ms", &self.timer_tick_ms, "timer tick and time slice must be positive");
        }
        if !(12..=16).contains(&self.kernel_stack_bits) {
            return err("kernel-stack-bits", &self.kernel_stack_bits, "use 12..=16 (default 12)");
        }
        Ok(())
    }

    /// All `CONFIG_*` definitions in force, platform ones first.
    pub fn defines(&self) -> Vec<(String, String)> {
        let mut defs: Vec<(String, String)> =
            PLATFORM_DEFINES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut num = |k: &str, v: u32| defs.push((k.to_string(), v.to_string()));
        num("CONFIG_ROOT_CNODE_SIZE_BITS", self.root_cnode_size_bits);
        num("CONFIG_TIMER_TICK_MS", self.timer_tick_ms);
        num("CONFIG_TIME_SLICE", self.time_slice);
        num("CONFIG_RETYPE_FAN_OUT_LIMIT", self.retype_fan_out_limit);
        num("CONFIG_MAX_NUM_WORK_UNITS_PER_PREEMPTION", self.max_num_work_units_per_preemption);
        num("CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS", self.max_num_bootinfo_untyped_caps);
        num("CONFIG_NUM_PRIORITIES", self.num_priorities);
        num("CONFIG_NUM_DOMAINS", self.num_domains);
        num("CONFIG_FPU_MAX_RESTORES_SINCE_SWITCH", self.fpu_max_restores_since_switch);
        num("CONFIG_KERNEL_STACK_BITS", self.kernel_stack_bits);
        let mut flag = |k: &str, on: bool| {
            if on {
                defs.push((k.to_string(), "1".to_string()));
            }
        };
        flag("CONFIG_FASTPATH", self.fastpath);
        flag("CONFIG_DEBUG_BUILD", self.debug_build);
        // The Makefile's `DEFINE +=` typo means CONFIG_PRINTING must come from here.
        flag("CONFIG_PRINTING", self.debug_build);
        flag("CONFIG_COLOUR_PRINTING", self.debug_build && self.colour_printing);
        flag("CONFIG_IRQ_REPORTING", self.debug_build && self.irq_reporting);
        defs
    }

    /// The `autoconf.h` the kernel build copies into `include/plat/pc99/`.
    pub fn autoconf_h(&self) -> String {
        let mut out = String::from(
            "/* Generated by kaal-sel4 from the system's KernelConfig. Do not edit. */\n\
             #ifndef AUTOCONF_INCLUDED\n#define AUTOCONF_INCLUDED\n",
        );
        for (k, v) in self.defines() {
            out.push_str(&format!("#define {k} {v}\n"));
        }
        out.push_str("#endif\n");
        out
    }

    /// Serialises the config for hand-over to build scripts (`KAAL_KERNEL_CONFIG`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("KernelConfig always serialises")
    }

    /// Parses a config written by [`KernelConfig::to_toml`] or by hand.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_the_verified_reference_config() {
        let defs = KernelConfig::default().defines();
        let get = |k: &str| defs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CONFIG_ROOT_CNODE_SIZE_BITS"), Some("12"));
        assert_eq!(get("CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS"), Some("167"));
        assert_eq!(get("CONFIG_DEBUG_BUILD"), Some("1"));
        assert_eq!(get("CONFIG_PRINTING"), Some("1"));
        assert_eq!(get("CONFIG_HUGE_PAGE"), Some("1"));
        for off in ["CONFIG_SUPPORT_PCID", "CONFIG_FSGSBASE_INST", "CONFIG_IOMMU", "CONFIG_VTX", "CONFIG_X2APIC"] {
            assert_eq!(get(off), None, "{off} must stay off for the Nehalem CPU model");
        }
    }

    #[test]
    fn no_define_appears_twice() {
        let defs = KernelConfig::default().defines();
        let mut names: Vec<_> = defs.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let cfg = KernelConfig { num_priorities: 128, ..Default::default() };
        assert_eq!(KernelConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
        let err = KernelConfig::from_toml("num-prioritys = 3").unwrap_err().to_string();
        assert!(err.contains("num-prioritys"), "{err}");
    }

    #[test]
    fn validation_names_the_key_and_the_fix() {
        let bad = KernelConfig { debug_build: false, ..Default::default() };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("colour-printing") && err.contains("need debug-build = true"), "{err}");
        assert!(KernelConfig::default().validate().is_ok());
        assert!(KernelConfig::for_flavour(Flavour::Release).validate().is_ok());
    }

    #[test]
    fn the_release_flavour_has_no_debug_syscalls_or_printing() {
        let release = KernelConfig::for_flavour(Flavour::Release);
        assert_eq!(release.flavour(), Flavour::Release);
        let defs = release.defines();
        for gone in ["CONFIG_DEBUG_BUILD", "CONFIG_PRINTING", "CONFIG_COLOUR_PRINTING", "CONFIG_IRQ_REPORTING"] {
            assert!(defs.iter().all(|(k, _)| k != gone), "{gone} is set in the release flavour");
        }
        assert_eq!(Flavour::from_name("release"), Some(Flavour::Release));
        assert_eq!(Flavour::from_name("verified"), None);
    }
}
