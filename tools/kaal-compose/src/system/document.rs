//! The TOML layer of `system.toml`: syntax, duplicate keys, unknown keys and value types.
//!
//! The `toml` crate finds these mistakes but words them for TOML experts ("duplicate key",
//! "expected i64") and does not say which table they are in. Here the document is parsed
//! once with spans, so each mistake can be restated with its dotted key, the list of
//! keys the table takes and an example of the right form.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, ConfigErrors, Source};
use super::raw::{
    keys_of, RawChannel, RawComponent, RawConfine, RawConnections, RawDevice, RawDisk, RawFile, RawFileSystem,
    RawGitSource, RawKernel, RawLinux, RawMmio, RawMountTable, RawNetwork, RawNetworkGrant, RawNotification,
    RawPriorities, RawProbe, RawProgram, RawQemu, RawRealtime, RawRealtimeTask, RawRegion, RawResources, RawRing,
    RawSystem, RawTime, MOUNT_EXPECTED, SIZE_EXPECTED,
};
use super::{did_you_mean, dotted, CONNECTION_KINDS};

/// Parses `source` into its raw form, or explains every TOML-level mistake found.
pub(super) fn read(source: &Source) -> Result<RawFile, ConfigErrors> {
    let (tree, errors) = DeTable::parse_recoverable(source.text);
    let layout = Layout::of(source.text, tree.get_ref());
    if !errors.is_empty() {
        return Err(ConfigErrors(syntax_errors(source, &layout, &errors)));
    }
    let mut unknown = Vec::new();
    unknown_keys(source, tree.get_ref(), &mut Vec::new(), &mut unknown);
    if !unknown.is_empty() {
        return Err(ConfigErrors(unknown));
    }
    RawFile::deserialize(toml::de::Deserializer::from(tree)).map_err(|e| type_error(source, &layout, &e).into())
}

/// Where each key and table of the document is, by dotted path.
struct Layout {
    entries: Vec<Entry>,
}

struct Entry {
    path: Vec<String>,
    key: Range<usize>,
    value: Range<usize>,
    shape: Shape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A `[table]` or `[[table]]`; its value span is the header.
    Header,
    /// A `{ ... }` table; its value span covers it all.
    Inline,
    /// A table only named as part of a longer one (`components` in `[components.a]`).
    Implied,
    Array,
    Scalar,
}

impl Layout {
    fn of(text: &str, root: &DeTable) -> Layout {
        let mut layout = Layout { entries: Vec::new() };
        layout.walk(text, root, &mut Vec::new());
        layout
    }

    fn walk(&mut self, text: &str, table: &DeTable, path: &mut Vec<String>) {
        for (key, value) in table.iter() {
            path.push(key.get_ref().to_string());
            let span = value.span();
            let shape = match value.get_ref() {
                DeValue::Table(_) => match text.get(span.clone()) {
                    Some(t) if t.starts_with('[') => Shape::Header,
                    Some(t) if t.starts_with('{') => Shape::Inline,
                    _ => Shape::Implied,
                },
                DeValue::Array(_) => Shape::Array,
                _ => Shape::Scalar,
            };
            self.entries.push(Entry { path: path.clone(), key: key.span(), value: span, shape });
            match value.get_ref() {
                DeValue::Table(inner) => self.walk(text, inner, path),
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            if text.get(item.span()).is_some_and(|t| t.starts_with("[[")) {
                                let (key, value) = (key.span(), item.span());
                                self.entries.push(Entry { path: path.clone(), key, value, shape: Shape::Header });
                            }
                            self.walk(text, inner, path);
                        }
                    }
                }
                _ => {}
            }
            path.pop();
        }
    }

    /// The path of the table that `offset` lies in, and whether that table's header is
    /// one of `extra` (headers the parser refused, so not in the layout).
    fn enclosing(&self, offset: usize, extra: &[(usize, Vec<String>)]) -> (Vec<String>, bool) {
        let inline = self
            .entries
            .iter()
            .filter(|e| e.shape == Shape::Inline && e.value.start < offset && offset < e.value.end)
            .min_by_key(|e| e.value.len());
        if let Some(entry) = inline {
            return (entry.path.clone(), false);
        }
        let headers = self.entries.iter().filter(|e| e.shape == Shape::Header).map(|e| (e.value.start, &e.path, false));
        let extra = extra.iter().map(|(start, path)| (*start, path, true));
        headers
            .chain(extra)
            .filter(|(start, _, _)| *start <= offset)
            .max_by_key(|(start, _, _)| *start)
            .map_or((Vec::new(), false), |(_, path, refused)| (path.clone(), refused))
    }

    /// The innermost key or value whose span holds `span`.
    fn innermost(&self, span: &Range<usize>) -> Option<&Entry> {
        let holds = |r: &Range<usize>| r.start <= span.start && span.end <= r.end;
        self.entries
            .iter()
            .flat_map(|e| [(e, &e.key), (e, &e.value)])
            .filter(|(_, r)| holds(r))
            .min_by_key(|(_, r)| r.len())
            .map(|(e, _)| e)
    }

    fn table_at(&self, span: &Range<usize>) -> Option<&Entry> {
        self.entries.iter().find(|e| matches!(e.shape, Shape::Header | Shape::Inline) && e.value == *span)
    }

    fn key_span(&self, path: &[String]) -> Option<Range<usize>> {
        self.entries.iter().find(|e| e.path == path).map(|e| e.key.clone())
    }
}

/// Restates the parser's errors, one per line: the rest are usually echoes of the first
/// mistake. An unclosed string is put first, as it makes everything after it look wrong.
fn syntax_errors(source: &Source, layout: &Layout, errors: &[toml::de::Error]) -> Vec<ConfigError> {
    let mut errors: Vec<&toml::de::Error> = errors.iter().collect();
    errors.sort_by_key(|e| {
        let start = e.span().map_or(0, |span| span.start);
        (source.line(start), !is_unclosed_string(e.message()), start)
    });
    let mut refused_headers = Vec::new();
    let mut reported = Vec::new();
    let mut last_line = 0;
    for &error in &errors {
        let span = error.span().unwrap_or(0..0);
        let line = source.line(span.start);
        if line == last_line {
            continue;
        }
        let restated = if error.message() == "duplicate key" {
            duplicate_key(source, layout, &span, &mut refused_headers)
        } else {
            Some(invalid_toml(source, layout, &refused_headers, &span, error.message()))
        };
        if let Some(restated) = restated {
            last_line = line;
            reported.push(restated);
        }
    }
    if reported.is_empty() {
        if let Some(error) = errors.first() {
            let span = error.span().unwrap_or(0..0);
            reported.push(invalid_toml(source, layout, &[], &span, error.message()));
        }
    }
    reported
}

fn invalid_toml(
    source: &Source,
    layout: &Layout,
    refused_headers: &[(usize, Vec<String>)],
    span: &Range<usize>,
    message: &str,
) -> ConfigError {
    let help = if is_unclosed_string(message) {
        "close the string with the quote it opened with; strings are \"double\" or 'single' quoted"
    } else if message.contains("must be quoted") {
        "text values need quotes: `key = \"text\"`"
    } else if message.contains("inline table") {
        "an inline table is `{ key = value, other = value }` on one line, closed with `}`"
    } else if message.contains("array") {
        "close the list with `]`, separating items with commas: `[\"a\", \"b\"]`"
    } else if message.contains("expected `=`") || message.contains("no value") {
        "every key needs a value: `key = value`"
    } else {
        "see https://toml.io for the TOML syntax"
    };
    let (table, _) = layout.enclosing(span.start, refused_headers);
    source.error(span, dotted(&table), format!("invalid TOML: {message}"), help)
}

fn is_unclosed_string(message: &str) -> bool {
    message.starts_with("invalid") && message.contains("string, expected")
}

/// Restates a "duplicate key" error at `span` (the second occurrence), naming what is
/// defined twice and where it first was. `None` for an echo: a key inside a table whose
/// header was itself a duplicate.
fn duplicate_key(
    source: &Source,
    layout: &Layout,
    span: &Range<usize>,
    refused_headers: &mut Vec<(usize, Vec<String>)>,
) -> Option<ConfigError> {
    let text = source.text;
    let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let written = text.get(line_start..span.end)?;
    let before_key = text.get(line_start..span.start)?.trim_start();
    let header = before_key.starts_with('[') && !before_key.contains([']', '=']);
    let path = if header {
        let path = key_segments(written.trim_start().trim_start_matches('['));
        refused_headers.push((line_start, path.clone()));
        path
    } else {
        let (mut path, in_refused) = layout.enclosing(span.start, refused_headers);
        if in_refused {
            return None;
        }
        let key_start = written.rfind(['{', ',']).map_or(0, |i| i + 1);
        path.extend(key_segments(&written[key_start..]));
        path
    };
    let first = layout
        .key_span(&path)
        .filter(|first| first.start < line_start)
        .map(|first| source.line(first.start))
        .or_else(|| if header { first_header_line(text, &path, line_start) } else { None });
    let at = first.map(|line| format!(" (first on line {line})")).unwrap_or_default();
    let key = dotted(&path);
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    let (message, help) = match names.as_slice() {
        ["components", name] => (
            format!("component `{name}` is defined twice{at}"),
            "component names must be unique: rename one of them, or merge the two tables".to_string(),
        ),
        ["connections", kind, name] if kind_noun(kind).is_some() => (
            format!("{} `{name}` is defined twice{at}", kind_noun(kind).unwrap_or_default()),
            "connection names must be unique: rename one of them, or merge the two tables".to_string(),
        ),
        ["filesystems", name] => (
            format!("file system `{name}` is defined twice{at}"),
            "file system names must be unique: rename one of them, or merge the two tables".to_string(),
        ),
        ["components", name, "mounts", point] => (
            format!("component `{name}` mounts two file systems at `{point}`{at}"),
            "a mount point holds one file system: remove one of the two, or mount it at another point".to_string(),
        ),
        _ if header => {
            (format!("table `[{key}]` is defined twice{at}"), format!("merge the two `[{key}]` tables into one"))
        }
        _ => (
            format!("`{key}` is set twice{at}"),
            "remove one of the two; a key may appear only once in a table".to_string(),
        ),
    };
    Some(source.error(span, key, message, help))
}

/// The line of the first `[header]` before `before` that names `path`.
fn first_header_line(text: &str, path: &[String], before: usize) -> Option<usize> {
    text.get(..before)?
        .split('\n')
        .position(|line| {
            let inside = line.trim_start().strip_prefix('[').map(|header| header.trim_start_matches('['));
            inside.is_some_and(|inside| key_segments(inside.split(']').next().unwrap_or(inside)) == path)
        })
        .map(|index| index + 1)
}

/// The segments of a dotted key as written: `a."b" . c` is `[a, b, c]`, and `"/a.b"`
/// is one segment.
fn key_segments(written: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in written.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('.', None) => {
                segments.push(&written[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    segments.push(&written[start..]);
    segments
        .into_iter()
        .map(|segment| {
            let segment = segment.trim().trim_end_matches(']').trim();
            let unquoted = segment
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| segment.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            unquoted.unwrap_or(segment).to_string()
        })
        .collect()
}

/// What the table at a path holds.
enum Schema {
    /// Exactly these keys.
    Keys(&'static [&'static str]),
    /// Named tables (components, connections): any key.
    Names,
    /// Not a table in a valid file; its type error comes later.
    Unchecked,
}

fn schema(path: &[&str]) -> Schema {
    match path {
        [] => Schema::Keys(keys_of::<RawFile>()),
        ["system"] => Schema::Keys(keys_of::<RawSystem>()),
        ["resources"] => Schema::Keys(keys_of::<RawResources>()),
        ["resources", "priorities"] => Schema::Keys(keys_of::<RawPriorities>()),
        ["qemu"] => Schema::Keys(keys_of::<RawQemu>()),
        ["kernel"] => Schema::Keys(keys_of::<RawKernel>()),
        ["time"] => Schema::Keys(keys_of::<RawTime>()),
        ["kernel", "source"] => Schema::Keys(keys_of::<RawGitSource>()),
        ["disks"] => Schema::Names,
        ["disks", _] => Schema::Keys(keys_of::<RawDisk>()),
        ["filesystems"] => Schema::Names,
        ["filesystems", _] => Schema::Keys(keys_of::<RawFileSystem>()),
        ["devices"] => Schema::Names,
        ["devices", _] => Schema::Keys(keys_of::<RawDevice>()),
        ["devices", _, "mmio"] => Schema::Keys(keys_of::<RawMmio>()),
        ["devices", _, "probe"] => Schema::Keys(keys_of::<RawProbe>()),
        ["components"] => Schema::Names,
        ["components", _] => Schema::Keys(keys_of::<RawComponent>()),
        ["components", _, "mounts"] => Schema::Names,
        ["components", _, "mounts", _] => Schema::Keys(keys_of::<RawMountTable>()),
        ["components", _, "network"] => Schema::Keys(keys_of::<RawNetworkGrant>()),
        ["components", _, "realtime"] => Schema::Keys(keys_of::<RawRealtimeTask>()),
        ["network"] => Schema::Keys(keys_of::<RawNetwork>()),
        ["realtime"] => Schema::Keys(keys_of::<RawRealtime>()),
        ["linux"] => Schema::Keys(keys_of::<RawLinux>()),
        ["linux", "mounts"] => Schema::Names,
        ["linux", "mounts", _] => Schema::Keys(keys_of::<RawMountTable>()),
        ["linux", "network"] => Schema::Keys(keys_of::<RawNetworkGrant>()),
        ["linux", "confine"] => Schema::Names,
        ["linux", "confine", _] => Schema::Keys(keys_of::<RawConfine>()),
        ["linux", "confine", _, "files"] => Schema::Names,
        ["linux", "confine", _, "network"] => Schema::Keys(keys_of::<RawNetworkGrant>()),
        ["disks", _, "programs"] => Schema::Names,
        ["disks", _, "programs", _] => Schema::Keys(keys_of::<RawProgram>()),
        ["connections"] => Schema::Keys(keys_of::<RawConnections>()),
        ["connections", kind] if kind_noun(kind).is_some() => Schema::Names,
        ["connections", "channels", _] => Schema::Keys(keys_of::<RawChannel>()),
        ["connections", "notifications", _] => Schema::Keys(keys_of::<RawNotification>()),
        ["connections", "rings", _] => Schema::Keys(keys_of::<RawRing>()),
        ["connections", "memory", _] => Schema::Keys(keys_of::<RawRegion>()),
        _ => Schema::Unchecked,
    }
}

fn kind_noun(kind: &str) -> Option<&'static str> {
    CONNECTION_KINDS.iter().find(|(key, _)| *key == kind).map(|(_, noun)| *noun)
}

/// How errors refer to the table at `path`.
fn table_name(path: &[&str]) -> String {
    match path {
        [] => "the top level".to_string(),
        ["resources", "priorities"] => "[resources] priorities".to_string(),
        [table] => format!("[{table}]"),
        ["components", name] => format!("component `{name}`"),
        ["devices", name] => format!("device `{name}`"),
        ["disks", name] => format!("disk `{name}`"),
        ["filesystems", name] => format!("file system `{name}`"),
        ["components", name, "mounts"] => format!("component `{name}`'s mounts"),
        ["components", name, "mounts", point] => format!("mount `{point}` of component `{name}`"),
        ["components", name, "network"] => format!("component `{name}`'s network"),
        ["components", name, "realtime"] => format!("component `{name}`'s realtime"),
        ["connections", kind, name] if kind_noun(kind).is_some() => {
            format!("{} `{name}`", kind_noun(kind).unwrap_or_default())
        }
        _ => format!("[{}]", dotted(path)),
    }
}

/// Reports every key that the table at `path` (and the tables under it) does not take.
fn unknown_keys<'t>(source: &Source, table: &'t DeTable, path: &mut Vec<&'t str>, errors: &mut Vec<ConfigError>) {
    let known = match schema(path) {
        Schema::Keys(known) => Some(known),
        Schema::Names => None,
        Schema::Unchecked => return,
    };
    for (key, value) in table.iter() {
        let key_name: &str = key.get_ref();
        if let Some(known) = known.filter(|known| !known.contains(&key_name)) {
            let is_table = matches!(value.get_ref(), DeValue::Table(_));
            errors.push(unknown_key(source, path, key_name, &key.span(), is_table, known));
            continue;
        }
        if let DeValue::Table(inner) = value.get_ref() {
            path.push(key_name);
            unknown_keys(source, inner, path, errors);
            path.pop();
        }
    }
}

fn unknown_key(
    source: &Source,
    path: &[&str],
    key: &str,
    span: &Range<usize>,
    is_table: bool,
    known: &[&str],
) -> ConfigError {
    let suggestion = did_you_mean(key, known.iter().copied());
    let (message, help) = match path {
        [] => (
            if is_table { format!("unknown section `[{key}]`") } else { format!("unknown top-level key `{key}`") },
            format!(
                "{suggestion}a system.toml has the sections [system], [resources], [qemu], [kernel], [time], \
                 [devices.<name>], [disks.<name>], [filesystems.<name>], [network], [realtime], \
                 [components.<name>] and [connections.<kind>.<name>]"
            ),
        ),
        ["connections"] => (
            format!("unknown connection kind `{key}`"),
            format!(
                "{suggestion}the kinds are [connections.channels.<name>], [connections.notifications.<name>], \
                 [connections.rings.<name>] and [connections.memory.<name>]"
            ),
        ),
        _ => {
            let table = table_name(path);
            (format!("unknown key `{key}` in {table}"), format!("{suggestion}{table} takes: {}", known.join(", ")))
        }
    };
    let full: Vec<&str> = path.iter().copied().chain([key]).collect();
    source.error(span, dotted(&full), message, help)
}

/// Restates a serde error: a value of the wrong type, or a missing key.
fn type_error(source: &Source, layout: &Layout, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let message = error.message();
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        let table = layout.table_at(&span).map(|e| e.path.clone()).unwrap_or_default();
        return missing_key(source, &table, field, &span);
    }
    let entry = layout.innermost(&span);
    let path: Vec<&str> = entry.map(|e| e.path.iter().map(String::as_str).collect()).unwrap_or_default();
    let key = dotted(&path);
    let Some((leaf, table)) = path.split_last() else {
        return source.error(&span, "", message, "check the value against the system.toml format");
    };
    let Some((found, expected)) = message.strip_prefix("invalid type: ").and_then(|m| m.split_once(", expected "))
    else {
        return source.error(&span, key, message, write_it_like(table, leaf));
    };
    let in_list = entry.is_some_and(|e| e.shape == Shape::Array && e.value != span);
    let message = if let Some(number) = found.strip_suffix(" as i128") {
        format!("`{leaf}` is far too large: {}", number.trim_start_matches("integer "))
    } else {
        let (found, expected) = (describe_found(found), describe_expected(expected));
        if in_list {
            format!("each entry of `{leaf}` must be {expected}, not {found}")
        } else {
            format!("`{leaf}` must be {expected}, not {found}")
        }
    };
    source.error(&span, key, message, write_it_like(table, leaf))
}

fn missing_key(source: &Source, table: &[String], field: &str, span: &Range<usize>) -> ConfigError {
    let table: Vec<&str> = table.iter().map(String::as_str).collect();
    let key = dotted(&table.iter().copied().chain([field]).collect::<Vec<_>>());
    let message = if table.is_empty() {
        format!("the [{field}] table is missing")
    } else {
        format!("{} is missing `{field}`", table_name(&table))
    };
    source.error(span, key, message, write_it_like(&table, field).replace("write it", "add it"))
}

fn describe_found(found: &str) -> String {
    match found {
        "sequence" => "a list".to_string(),
        "map" => "a table".to_string(),
        other => other.to_string(),
    }
}

fn describe_expected(expected: &str) -> &str {
    match expected {
        "i64" => "a whole number",
        "a boolean" => "`true` or `false`",
        "a sequence" => "a list",
        e if e.starts_with("struct ") || e == "a map" => "a table",
        SIZE_EXPECTED => SIZE_EXPECTED,
        MOUNT_EXPECTED => MOUNT_EXPECTED,
        e => e,
    }
}

fn write_it_like(table: &[&str], key: &str) -> String {
    match example(table, key) {
        Some(example) if example.contains('\n') => format!("write it like:\n{example}"),
        Some(example) => format!("write it like `{example}`"),
        None => "check the value against the system.toml format".to_string(),
    }
}

/// A correct line (or table) for `key` in the table at `table`.
fn example(table: &[&str], key: &str) -> Option<String> {
    let example = match (table, key) {
        (["components", _, "mounts"], point) => format!(
            "{point:?} = \"data\" (a file system) or {point:?} = {{ filesystem = \"data\", subtree = \"/public\", \
             read-only = true }}"
        ),
        (["components", ..], "mounts") => "mounts = { \"/\" = \"scratch\", \"/data\" = \"data\" }".to_string(),
        (["components", _, "mounts", _], "filesystem") => "filesystem = \"data\"".to_string(),
        (["components", _, "mounts", _], "subtree") => "subtree = \"/public\"".to_string(),
        ([], "filesystems") | (["filesystems"], _) => {
            "[filesystems.scratch]\nkind = \"ramfs\"\nsize = \"8 MiB\"".to_string()
        }
        (["filesystems", _], "size") => "size = \"8 MiB\"".to_string(),
        (["filesystems", _], "read-only") => "read-only = true (the default is the disk's)".to_string(),
        ([], "network") => "[network]\nnic = \"e1000\"\naddress = \"dhcp\"\nforwards = [\"8080:80\"]".to_string(),
        (["network"], "nic") => {
            "nic = \"e1000\" (or \"virtio-net\", or \"rtl8139\", driven by Linux's 8139cp)".to_string()
        }
        (["network"], "address") => "address = \"dhcp\" (or a static address, \"10.0.2.15/24\")".to_string(),
        (["network"], "gateway") => "gateway = \"10.0.2.2\" (with a static address)".to_string(),
        (["network"], "driver") => {
            "driver = \"my-nic\" (a NIC driver crate of the system's own), or driver = { type = \
                                    \"dde-linux\", driver = \"e1000\" } (Linux's, unmodified)"
                .to_string()
        }
        (["network"], "forwards") => {
            "forwards = [\"8080:80\", \"udp:5353:53\"] (host port on 127.0.0.1 to guest port)".to_string()
        }
        (["components" | "linux", ..], "listen") => {
            "listen = [80, 7] (local ports it may listen on or bind)".to_string()
        }
        (["components" | "linux", ..], "connect") => {
            "connect = [8000] (remote ports it may connect or send to)".to_string()
        }
        (["components", ..], "network") => "network = { listen = [80], connect = [8000] }".to_string(),
        (["components", _, "realtime"], "period") => "period = \"100ms\" (the time between releases)".to_string(),
        (["components", _, "realtime"], "deadline") => {
            "deadline = \"10ms\" (after each release; at most the period, which is the default)".to_string()
        }
        (["components", _, "realtime"], "wcet") => "wcet = \"2ms\" (the CPU time one job may use)".to_string(),
        (["components", _, "realtime"], "criticality") => {
            "criticality = \"high\" (or \"low\", the default: shed first under overload)".to_string()
        }
        (["components", _, "realtime"], "offset") => "offset = \"5ms\" (before the first release)".to_string(),
        (["components", ..], "realtime") => {
            "realtime = { period = \"100ms\", deadline = \"10ms\", wcet = \"2ms\", criticality = \"high\" }".to_string()
        }
        ([], "realtime") => "[realtime]\npolicy = \"edf\"".to_string(),
        (["realtime"], "policy") => {
            "policy = \"edf\" (the default), \"rate-monotonic\" or \"deadline-monotonic\"".to_string()
        }
        (["realtime"], "timer") => "timer = \"hpet\" (the default) or \"pit\"".to_string(),
        (["realtime"], "priority") => "priority = 230 (every real-time component's; 1 to 253)".to_string(),
        ([], "system") => "[system]\nname = \"my-system\"".to_string(),
        ([], "resources") => "[resources]\nheap = \"16 MiB\"".to_string(),
        ([], "qemu") => "[qemu]\nmemory = \"512 MiB\"".to_string(),
        ([], "kernel") => "[kernel]\nflavour = \"release\"".to_string(),
        ([], "time") => "[time]\nsource = \"pit\"".to_string(),
        (["time"], "source") => "source = \"pit\"".to_string(),
        (["components", ..], "time") => "time = true".to_string(),
        (["components", ..], "passive") => "passive = true".to_string(),
        ([], "components") => component_example("hello"),
        ([], "disks") | (["disks"], _) => "[disks.data]\ndirectory = \"files\"\nsize = \"16 MiB\"".to_string(),
        (["disks", _], "size") => "size = \"16 MiB\"".to_string(),
        (["disks", _], "packages") => {
            "packages = [\"busybox-static\"] (Debian packages, downloaded by `kaal build`)".to_string()
        }
        (["disks", _, "programs"], path) => format!("{path:?} = {{ c = \"hello.c\" }} or {{ rust = \"app\" }}"),
        (["disks", _], "programs") => "[disks.root.programs]\n\"/bin/app\" = { rust = \"app\" }".to_string(),
        (["disks", _, "programs", _], "c") => "c = \"hello.c\" (built with musl-gcc -static)".to_string(),
        (["disks", _, "programs", _], "rust") => {
            "rust = \"app\" (a crate's directory, built with +crt-static)".to_string()
        }
        ([], "linux") => "[linux]\ninit = [\"/bin/sh\"]\nmounts = { \"/\" = \"root\" }".to_string(),
        (["linux"], "init") => "init = [\"/bin/sh\"] (the first program and its arguments)".to_string(),
        (["linux"], "env") => "env = [\"PATH=/bin\", \"HOME=/\"]".to_string(),
        (["linux"], "demo") => {
            "demo = [\"uname -a\", \"exit 0\"] (typed at init when `kaal run` has no input)".to_string()
        }
        (["linux"], "memory") => "memory = \"64 MiB\" (RAM for the Linux processes, a power of two)".to_string(),
        (["linux"], "mounts") => "mounts = { \"/\" = \"root\" }".to_string(),
        (["linux", "mounts"], point) => format!("{point:?} = \"root\""),
        (["linux", "mounts", _], "filesystem") => "filesystem = \"root\"".to_string(),
        (["linux", "mounts", _], "subtree") => "subtree = \"/public\"".to_string(),
        (["linux"], "priority") => "priority = 100".to_string(),
        (["linux"], "confine") => "[linux.confine.\"/bin/app\"]\nfiles = { \"/tmp\" = \"read-write\" }".to_string(),
        (["linux", "confine"], program) => {
            format!("[linux.confine.{program:?}]\nfiles = {{ \"/tmp\" = \"read-write\" }}")
        }
        (["linux", "confine", _], "files") => {
            "files = { \"/www\" = \"read-only\", \"/tmp\" = \"read-write\" } (the subtrees it sees)".to_string()
        }
        (["linux", "confine", _], "network") => "network = { listen = [80] } (some of [linux]'s ports)".to_string(),
        (["linux", "confine", _, "files"], subtree) => format!("{subtree:?} = \"read-only\""),
        (["linux"], "network") => "network = { listen = [80] } (the ports its processes may use)".to_string(),
        (["linux"], "log") => "log = \"info\"".to_string(),
        (["components", ..], "disks") => "disks = [\"data\"]".to_string(),
        ([], "devices") | (["devices"], _) => "[devices.rtc]\nports = \"0x70-0x71\"\nirq = 8".to_string(),
        (["devices", _, "mmio"], "size") => "size = \"4 KiB\"".to_string(),
        ([], "connections") | (["connections"], "channels") => connection_example("channels", "requests"),
        (["connections"], kind) => connection_example(kind, "example"),
        (["components"], name) => component_example(name),
        (["connections", kind], name) => connection_example(kind, name),
        (["components", name], "path") => format!("path = \"{name}\""),
        (["components", ..], "heap") => "heap = \"256 KiB\"".to_string(),
        (_, "heap") => "heap = \"16 MiB\"".to_string(),
        (_, key) => {
            let value = match key {
                "name" => "\"my-system\"",
                "platform" => "\"qemu-x86_64\"",
                "flavour" => "\"release\"",
                "version" => "\"16.0.0\"",
                "verified" | "mcs" => "true",
                "source" => "\"../seL4\" (a kernel source tree) or source = { git = \"https://github.com/seL4/seL4.git\", tag = \"16.0.0\" }",
                "git" => "\"https://github.com/seL4/seL4.git\"",
                "tag" => "\"16.0.0\"",
                "description" => "\"what the system does\"",
                "max-threads" => "16",
                "priorities" => "{ lowest = 1, highest = 254 }",
                "lowest" => "1",
                "highest" => "254",
                "memory" => "\"512 MiB\"",
                "args" => "[\"-serial\", \"stdio\"]",
                "priority" => "150",
                "stack" => "\"64 KiB\"",
                "devices" => "[\"com2\"]",
                "image" => "\"disk.img\" (a raw image, relative to system.toml; written in place)",
                "directory" => "\"files\" (kaal build makes an ext2 image of it with mke2fs)",
                "read-only" => "true",
                "kind" => "\"ramfs\" (in memory, empty at boot) or kind = \"ext2\" (the file system on a disk; add disk = \"NAME\")",
                "disk" => "\"data\" (a disk declared in [disks.NAME])",
                "ports" => "\"0x70-0x71\"",
                "irq" => "8",
                "mmio" => "{ address = 0xfed40000, size = \"4 KiB\" }",
                "address" => "0xfed40000",
                "probe" => "{ scratch = 7 } (a register that keeps what is written) or probe = { read = 5, mask = 0x80, equals = 0x80 }",
                "scratch" => "7",
                "read" => "5",
                "mask" => "0x80",
                "equals" => "0x80",
                "dma" => "\"64 KiB\"",
                "daemon" => "true",
                "log" => "\"debug\"",
                "budget" => "\"2 ms\"",
                "period" => "\"10 ms\"",
                "overrun" => "\"fault\"",
                "server" | "signal" | "producer" => return Some(format!("{key} = {}", list_or_one(key, "server"))),
                "clients" | "wait" | "consumer" => return Some(format!("{key} = {}", list_or_one(key, "client"))),
                "slots" => "256",
                "item-size" => "64",
                "size" => "\"64 KiB\"",
                "writers" => "[\"producer\"]",
                "readers" => "[\"consumer\"]",
                _ => return None,
            };
            format!("{key} = {value}")
        }
    };
    Some(example)
}

fn list_or_one(key: &str, component: &str) -> String {
    if matches!(key, "clients" | "signal") {
        format!("[\"{component}\"]")
    } else {
        format!("\"{component}\"")
    }
}

fn component_example(name: &str) -> String {
    format!("[components.{name}]\npath = \"{name}\"")
}

fn connection_example(kind: &str, name: &str) -> String {
    let body = match kind {
        "notifications" => "signal = [\"server\"]\nwait = \"client\"",
        "rings" => "producer = \"client\"\nconsumer = \"logger\"\nslots = 256\nitem-size = 64",
        "memory" => "size = \"64 KiB\"\nwriters = [\"producer\"]\nreaders = [\"consumer\"]",
        _ => "server = \"server\"\nclients = [\"client\"]",
    };
    format!("[connections.{kind}.{name}]\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of every table has an example, so no help line falls back to the
    /// generic text.
    #[test]
    fn every_known_key_has_an_example() {
        let tables: [&[&str]; 39] = [
            &[],
            &["system"],
            &["resources"],
            &["resources", "priorities"],
            &["qemu"],
            &["kernel"],
            &["time"],
            &["components"],
            &["components", "a"],
            &["connections"],
            &["connections", "channels", "a"],
            &["connections", "notifications", "a"],
            &["connections", "rings", "a"],
            &["connections", "memory", "a"],
            &["connections", "channels"],
            &["devices"],
            &["disks"],
            &["disks", "data"],
            &["devices", "rtc"],
            &["devices", "rtc", "mmio"],
            &["devices", "rtc", "probe"],
            &["filesystems"],
            &["filesystems", "data"],
            &["components", "a", "mounts"],
            &["components", "a", "mounts", "/pub"],
            &["network"],
            &["components", "a", "network"],
            &["realtime"],
            &["components", "a", "realtime"],
            &["linux"],
            &["linux", "mounts"],
            &["linux", "mounts", "/"],
            &["linux", "network"],
            &["linux", "confine"],
            &["linux", "confine", "/bin/app"],
            &["linux", "confine", "/bin/app", "files"],
            &["linux", "confine", "/bin/app", "network"],
            &["disks", "data", "programs"],
            &["disks", "data", "programs", "/bin/app"],
        ];
        for table in tables {
            match schema(table) {
                Schema::Keys(keys) => {
                    assert!(!keys.is_empty(), "{table:?}");
                    for key in keys {
                        assert!(example(table, key).is_some(), "no example for {key} in {table:?}");
                    }
                }
                Schema::Names => assert!(example(table, "x").is_some(), "{table:?}"),
                Schema::Unchecked => panic!("{table:?} is unchecked"),
            }
        }
    }

    #[test]
    fn splits_dotted_keys_as_written() {
        assert_eq!(key_segments("components . \"a\""), ["components", "a"]);
        assert_eq!(key_segments("components.'srv'"), ["components", "srv"]);
        assert_eq!(key_segments(" a.b ]"), ["a", "b"]);
        assert_eq!(key_segments("mounts.\"/a.b\""), ["mounts", "/a.b"]);
    }
}
