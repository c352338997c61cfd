//! `cargo kaal tutorial`: the lessons (`tutorial/NN-name` in the KaaL checkout), one
//! line each with whether they passed when last run this way, and `cargo kaal tutorial
//! NN`, which runs a lesson (as `cargo kaal run` would), records how it ended, and
//! shows the next one.
//!
//! A lesson's title is its README's first heading (`# Lesson 06: Files`). The results
//! are kept in `target/kaal/tutorial.tsv` (`NN<TAB>passed|failed (exit N)<TAB>unix
//! seconds`, the last run of each lesson).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, ToolError};

/// One lesson of the tutorial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// `06`.
    pub number: String,
    /// Its directory.
    pub dir: PathBuf,
    /// What its README's first heading says after `Lesson NN: `.
    pub title: String,
}

/// The lessons under `tutorial`, in order.
pub fn lessons(tutorial: &Path) -> Result<Vec<Lesson>> {
    let read = std::fs::read_dir(tutorial).map_err(|e| ToolError::io("listing the lessons", tutorial, e))?;
    let mut lessons = Vec::new();
    for entry in read.flatten() {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((number, _)) = name.split_once('-') else { continue };
        // A lesson is a system: a system.toml, or (lessons 01-05) a root task's crate.
        let is_system = dir.join("system.toml").is_file() || dir.join("Cargo.toml").is_file();
        if number.len() != 2 || !number.bytes().all(|b| b.is_ascii_digit()) || !is_system {
            continue;
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
        lessons.push(Lesson { number: number.to_string(), title: title(&readme, &name), dir });
    }
    lessons.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(lessons)
}

/// A lesson's title from its README (`# Lesson 06: Files` -> `Files`), else its
/// directory's name.
fn title(readme: &str, fallback: &str) -> String {
    let heading = readme.lines().find_map(|l| l.strip_prefix("# ")).unwrap_or(fallback);
    heading.split_once(": ").map_or(heading, |(_, rest)| rest).trim().to_string()
}

/// The lesson `which` names (`6`, `06`, or its directory's name).
pub fn find<'a>(lessons: &'a [Lesson], which: &str) -> Result<&'a Lesson> {
    let wanted = match which.parse::<u32>() {
        Ok(n) => format!("{n:02}"),
        Err(_) => which.split('-').next().unwrap_or(which).to_string(),
    };
    lessons.iter().find(|l| l.number == wanted).ok_or_else(|| {
        let known: Vec<&str> = lessons.iter().map(|l| l.number.as_str()).collect();
        ToolError::new(
            "choosing a lesson",
            format!("there is no lesson `{which}`"),
            format!("the lessons are {}; `cargo kaal tutorial` lists them", known.join(", ")),
        )
    })
}

/// The recorded results, by lesson number.
pub fn results(file: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            Some((fields.next()?.to_string(), fields.next()?.to_string()))
        })
        .collect()
}

/// Records how lesson `number` ended (the last run of each lesson is kept).
pub fn record(file: &Path, number: &str, result: &str) -> Result<()> {
    let mut all = results(file);
    all.insert(number.to_string(), result.to_string());
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let text: String = all.iter().map(|(n, r)| format!("{n}\t{r}\t{stamp}\n")).collect();
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ToolError::io("recording the lesson's result", parent, e))?;
    }
    std::fs::write(file, text).map_err(|e| ToolError::io("recording the lesson's result", file, e))
}

/// The listing: one line per lesson, with its last result.
pub fn listing(lessons: &[Lesson], results: &BTreeMap<String, String>) -> String {
    let width = lessons.iter().map(|l| l.title.len()).max().unwrap_or(0);
    let mut out = String::new();
    for lesson in lessons {
        let result = results.get(&lesson.number).map_or("not run yet", String::as_str);
        out.push_str(&format!("{}  {:<width$}  {result}\n", lesson.number, lesson.title));
    }
    out.push_str("run one with `cargo kaal tutorial NN` (its README: tutorial/NN-*/README.md)\n");
    out
}

/// What follows lesson `number` (`None` after the last).
pub fn next<'a>(lessons: &'a [Lesson], number: &str) -> Option<&'a Lesson> {
    lessons.iter().find(|l| l.number.as_str() > number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_are_listed_in_order_with_their_titles_and_last_results() {
        let dir = std::env::temp_dir().join(format!("kaal-tutorial-{}", std::process::id()));
        for (name, heading) in [("02-memory", "# Lesson 02: Memory"), ("01-hello", "# Lesson 01: Hello from seL4")] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("system.toml"), "").unwrap();
            std::fs::write(dir.join(name).join("README.md"), format!("{heading}\n\ntext\n")).unwrap();
        }
        std::fs::create_dir_all(dir.join("notes")).unwrap();
        let lessons = lessons(&dir).unwrap();
        let found: Vec<(&str, &str)> = lessons.iter().map(|l| (l.number.as_str(), l.title.as_str())).collect();
        assert_eq!(found, [("01", "Hello from seL4"), ("02", "Memory")]);
        assert_eq!(find(&lessons, "2").unwrap().number, "02");
        assert_eq!(find(&lessons, "01-hello").unwrap().number, "01");
        let error = find(&lessons, "7").unwrap_err();
        assert!(error.help.contains("01, 02"), "{error}");
        assert_eq!(next(&lessons, "01").map(|l| l.number.as_str()), Some("02"));
        assert!(next(&lessons, "02").is_none());
        let file = dir.join("results.tsv");
        record(&file, "02", "failed (exit 3)").unwrap();
        record(&file, "01", "passed").unwrap();
        record(&file, "02", "passed").unwrap();
        let text = listing(&lessons, &results(&file));
        assert!(text.starts_with("01  Hello from seL4  passed\n02  Memory           passed\n"), "{text}");
        assert!(listing(&lessons, &BTreeMap::new()).contains("01  Hello from seL4  not run yet"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
