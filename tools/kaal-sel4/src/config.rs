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
    /// Which seL4 release.
    pub version: KernelVersion,
    /// seL4 16.0.0 only: build exactly the configuration the proofs cover,
    /// `configs/X64_verified.cmake` (no other setting here applies then).
    pub verified: bool,
    /// With `verified`: X64_verified's settings with the two changes QEMU's pc machine
    /// needs, which make it no longer the verified configuration: PCIDs off
    /// (`KernelSupportPCID`; TCG does not emulate them) and 230 BootInfo untypeds
    /// rather than 50 (QEMU's 65 device regions take all 50, leaving the root task no
    /// RAM).
    pub qemu_changes: bool,
    /// seL4 16.0.0 only: the mixed-criticality kernel (`KernelIsMCS`), with scheduling
    /// contexts and reply objects.
    pub mcs: bool,
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
            version: KernelVersion::V5_0_0,
            verified: false,
            qemu_changes: false,
            mcs: false,
            // 16384 slots: the root task keeps a capability for each page of every
            // component's image and shared regions, and a system with storage,
            // network and the Linux personality needs more than 4096.
            root_cnode_size_bits: 14,
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

/// The seL4 releases KaaL builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord)]
pub enum KernelVersion {
    /// seL4 5.0.0 (2017), from the crates.io carrier; the default, because it is the only
    /// kernel a fresh machine can get from a package registry.
    #[default]
    #[serde(rename = "5.0.0")]
    V5_0_0,
    /// seL4 16.0.0 (2026), the current release, from a source tree or git.
    #[serde(rename = "16.0.0")]
    V16_0_0,
}

impl KernelVersion {
    /// Both, oldest first.
    pub const ALL: [KernelVersion; 2] = [KernelVersion::V5_0_0, KernelVersion::V16_0_0];

    /// `"5.0.0"` or `"16.0.0"`, as the source tree's `VERSION` file says it.
    pub const fn name(self) -> &'static str {
        match self {
            KernelVersion::V5_0_0 => "5.0.0",
            KernelVersion::V16_0_0 => "16.0.0",
        }
    }

    /// Parses a version as system.toml, `--kernel` and `VERSION` spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name.trim())
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel as `--kernel` names it: `[VERSION][-FLAVOUR]`, where the flavour is `debug`,
/// `release`, `verified` (16.0.0's `X64_verified` configuration) or `mcs` (16.0.0's MCS
/// kernel, debug). Missing parts keep what the system chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelChoice {
    pub version: Option<KernelVersion>,
    pub flavour: Option<Flavour>,
    pub verified: Option<bool>,
    /// With `verified`: the changes QEMU needs (see [`KernelConfig::qemu_changes`]).
    pub qemu_changes: Option<bool>,
    pub mcs: Option<bool>,
}

impl KernelChoice {
    /// Parses `debug`, `release`, `16.0.0`, `16.0.0-release`, `16.0.0-verified`,
    /// `16.0.0-mcs` (debug), `16.0.0-mcs-release`, `5.0.0-debug`, ...
    pub fn parse(text: &str) -> Result<Self, String> {
        let help = "write a flavour (debug, release), a version (5.0.0, 16.0.0), or both as \
                    16.0.0-release; 16.0.0 also has -verified (the X64_verified configuration), \
                    -verified-qemu (its settings with the two changes QEMU needs; not verified), -mcs and \
                    -mcs-release";
        let mut choice = KernelChoice::default();
        let (version, rest) = match text.split_once('-') {
            Some((v, rest)) if KernelVersion::from_name(v).is_some() => (Some(v), Some(rest)),
            _ if KernelVersion::from_name(text).is_some() => (Some(text), None),
            _ => (None, Some(text)),
        };
        choice.version = version.and_then(KernelVersion::from_name);
        match rest {
            None => {}
            Some("verified-qemu") => {
                choice.verified = Some(true);
                choice.qemu_changes = Some(true);
                choice.flavour = Some(Flavour::Release);
            }
            Some("verified") => {
                choice.verified = Some(true);
                choice.flavour = Some(Flavour::Release);
            }
            Some("mcs") => choice.mcs = Some(true),
            Some(mcs) if mcs.strip_prefix("mcs-").and_then(Flavour::from_name).is_some() => {
                choice.mcs = Some(true);
                choice.flavour = mcs.strip_prefix("mcs-").and_then(Flavour::from_name);
            }
            Some(flavour) => {
                choice.flavour = Some(Flavour::from_name(flavour).ok_or_else(|| format!("`{text}`: {help}"))?)
            }
        }
        if (choice.verified == Some(true) || choice.mcs == Some(true)) && choice.version != Some(KernelVersion::V16_0_0)
        {
            return Err(format!(
                "`{text}`: -verified and -mcs are configurations of seL4 16.0.0; write 16.0.0-verified or 16.0.0-mcs"
            ));
        }
        Ok(choice)
    }

    /// This choice where it says something, `base` where it does not. The configuration
    /// (flavour, verified, MCS) is one part: `--kernel release` over a system's
    /// `mcs = true` means the plain release kernel.
    pub fn or(self, base: KernelChoice) -> KernelChoice {
        let config_given =
            self.flavour.is_some() || self.verified.is_some() || self.qemu_changes.is_some() || self.mcs.is_some();
        let config = if config_given { self } else { base };
        KernelChoice {
            version: self.version.or(base.version),
            flavour: config.flavour,
            verified: config.verified,
            qemu_changes: config.qemu_changes,
            mcs: config.mcs,
        }
    }

    /// The kernel settings this choice names; unnamed parts take the defaults (5.0.0,
    /// debug).
    pub fn config(self) -> KernelConfig {
        self.over(KernelConfig::default())
    }

    /// This choice over `base` (what the system asked for).
    pub fn over(self, base: KernelConfig) -> KernelConfig {
        let version = self.version.unwrap_or(base.version);
        let flavour = self.flavour.unwrap_or(base.flavour());
        let verified = self.verified.unwrap_or(base.verified && version == KernelVersion::V16_0_0);
        let mcs = self.mcs.unwrap_or(base.mcs && version == KernelVersion::V16_0_0);
        let mut config = KernelConfig::for_flavour(flavour);
        config.version = version;
        config.verified = verified;
        config.mcs = mcs;
        if verified {
            let qemu = self.qemu_changes.unwrap_or(base.verified && base.qemu_changes);
            config = if qemu { KernelConfig::x64_verified_for_qemu() } else { KernelConfig::x64_verified() };
        }
        config
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

    /// seL4 16.0.0's `configs/X64_verified.cmake`, the x86_64 configuration the proofs
    /// cover: no printing, no debug syscalls, a 2^19-slot root CNode, 16 domains, 50
    /// bootinfo untypeds, FS/GS base through the instructions (the CPU model needs
    /// `+fsgsbase`). The kernel is built from that file alone.
    pub fn x64_verified() -> Self {
        Self {
            version: KernelVersion::V16_0_0,
            verified: true,
            qemu_changes: false,
            root_cnode_size_bits: 19,
            num_domains: 16,
            max_num_bootinfo_untyped_caps: 50,
            ..Self::for_flavour(Flavour::Release)
        }
    }

    /// [`KernelConfig::x64_verified`] with the changes QEMU needs (see
    /// [`KernelConfig::qemu_changes`]). Not the verified configuration.
    pub fn x64_verified_for_qemu() -> Self {
        Self { qemu_changes: true, max_num_bootinfo_untyped_caps: 230, ..Self::x64_verified() }
    }

    /// What the kernel calls itself in messages: `seL4 16.0.0 release`, `seL4 16.0.0 X64_verified`, ...
    pub fn describe(&self) -> String {
        let what = if self.verified && !self.qemu_changes {
            "X64_verified".to_string()
        } else if self.verified {
            "X64_verified-qemu (not verified)".to_string()
        } else if self.mcs {
            format!("MCS {}", self.flavour())
        } else {
            self.flavour().to_string()
        };
        format!("seL4 {} {what}", self.version)
    }

    /// Which flavour these settings are.
    pub fn flavour(&self) -> Flavour {
        if self.debug_build {
            Flavour::Debug
        } else {
            Flavour::Release
        }
    }

    /// Checks the settings against what the kernel version and KaaL's runtime accept.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, value: &dyn ToString, why: &str| {
            Err(ConfigError { key, value: value.to_string(), why: why.to_string() })
        };
        if self.version == KernelVersion::V5_0_0 && (self.verified || self.mcs) {
            let key = if self.verified { "verified" } else { "mcs" };
            return err(key, &true, "the verified configuration and MCS are seL4 16.0.0's; set version = \"16.0.0\"");
        }
        if self.qemu_changes && !self.verified {
            return err("qemu-changes", &true, "the QEMU changes apply to the verified configuration only");
        }
        let expected = if self.qemu_changes { Self::x64_verified_for_qemu() } else { Self::x64_verified() };
        if self.verified && *self != expected {
            return err(
                "verified",
                &true,
                "the verified configuration is X64_verified.cmake exactly; set no other kernel setting with it",
            );
        }
        if !(8..=20).contains(&self.root_cnode_size_bits) {
            return err(
                "root-cnode-size-bits",
                &self.root_cnode_size_bits,
                "use 8..=20 (16384 slots, the default, is 14)",
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

    /// The `autoconf.h` the seL4 5.0.0 kernel build copies into `include/plat/pc99/`
    /// (16.0.0 generates its own from the CMake settings).
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

    /// The CMake initial-cache file (`cmake -C`) that builds seL4 16.0.0 with these
    /// settings. For the verified configuration it is the kernel's own
    /// `configs/X64_verified.cmake`, from `source_root`, and nothing else.
    pub fn cmake_settings(&self, source_root: &std::path::Path) -> String {
        let mut out = String::from("# Generated by kaal-sel4 from the system's KernelConfig. Do not edit.\n");
        if self.verified {
            out.push_str(&format!("include(\"{}\")\n", source_root.join("configs/X64_verified.cmake").display()));
            if self.qemu_changes {
                // The two changes QEMU needs (see `qemu_changes`); with them the kernel is
                // no longer the verified configuration.
                out.push_str("set(KernelSupportPCID OFF CACHE BOOL \"\" FORCE)\n");
                out.push_str(&format!(
                    "set(KernelMaxNumBootinfoUntypedCaps {} CACHE STRING \"\" FORCE)\n",
                    self.max_num_bootinfo_untyped_caps
                ));
            }
            return out;
        }
        let mut set = |key: &str, value: String, kind: &str| {
            out.push_str(&format!("set({key} \"{value}\" CACHE {kind} \"\")\n"));
        };
        let on = |b: bool| if b { "ON".to_string() } else { "OFF".to_string() };
        // The platform: QEMU's pc machine with the Nehalem CPU model (see PLATFORM_DEFINES).
        set("KernelPlatform", "pc99".into(), "STRING");
        set("KernelSel4Arch", "x86_64".into(), "STRING");
        set("KernelMaxNumNodes", "1".into(), "STRING");
        set("KernelOptimisation", "-O2".into(), "STRING");
        set("KernelX86MicroArch", "nehalem".into(), "STRING");
        set("KernelFPU", "FXSAVE".into(), "STRING");
        set("KernelFSGSBase", "msr".into(), "STRING");
        set("KernelSupportPCID", on(false), "BOOL");
        set("KernelIOMMU", on(false), "BOOL");
        set("KernelVTX", on(false), "BOOL");
        set("KernelHugePage", on(true), "BOOL");
        set("KernelVerificationBuild", on(false), "BOOL");
        set("KernelBenchmarks", "none".into(), "STRING");
        // The settings.
        set("KernelIsMCS", on(self.mcs), "BOOL");
        set("KernelRootCNodeSizeBits", self.root_cnode_size_bits.to_string(), "STRING");
        if !self.mcs {
            set("KernelTimerTickMS", self.timer_tick_ms.to_string(), "STRING");
            set("KernelTimeSlice", self.time_slice.to_string(), "STRING");
        }
        set("KernelRetypeFanOutLimit", self.retype_fan_out_limit.to_string(), "STRING");
        set("KernelMaxNumWorkUnitsPerPreemption", self.max_num_work_units_per_preemption.to_string(), "STRING");
        set("KernelMaxNumBootinfoUntypedCaps", self.max_num_bootinfo_untyped_caps.to_string(), "STRING");
        set("KernelNumPriorities", self.num_priorities.to_string(), "STRING");
        set("KernelNumDomains", self.num_domains.to_string(), "STRING");
        set("KernelFastpath", on(self.fastpath), "BOOL");
        set("KernelDebugBuild", on(self.debug_build), "BOOL");
        set("KernelPrinting", on(self.debug_build), "BOOL");
        if self.debug_build {
            set("KernelColourPrinting", on(self.colour_printing), "BOOL");
            set("KernelIRQReporting", on(self.irq_reporting), "BOOL");
        }
        set("KernelStackBits", self.kernel_stack_bits.to_string(), "STRING");
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
        assert_eq!(get("CONFIG_ROOT_CNODE_SIZE_BITS"), Some("14"));
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
