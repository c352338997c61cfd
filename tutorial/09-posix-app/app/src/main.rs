//! Uses std the way an application does: arguments, the environment, files and
//! directories, formatting, collections, and its exit status. Prints `NAME: ...`
//! lines (NAME as it was run) that lesson 09 shows and the boot tests check.
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // Named as it is installed (lesson 09's /bin/app, the boot tests' /bin/rust-app):
    // its lines and its scratch directory under /tmp carry that name.
    let name = args.first().and_then(|a| a.rsplit('/').next()).filter(|n| !n.is_empty()).unwrap_or("app").to_string();
    let dir = format!("/tmp/{name}");
    println!("{name}: hello from std, args {:?}", args.get(1..).unwrap_or_default());
    println!("{name}: PATH={}", std::env::var("PATH").unwrap_or_default());
    // The disk keeps what earlier runs wrote: start from an empty directory.
    if fs::metadata(&dir).is_ok() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let mut file = fs::File::create(format!("{dir}/words.txt"))?;
    for word in ["seL4", "KaaL", "Linux", "seL4"] {
        writeln!(file, "{word}")?;
    }
    drop(file);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in BufReader::new(fs::File::open(format!("{dir}/words.txt"))?).lines() {
        *counts.entry(line?).or_default() += 1;
    }
    println!("{name}: counts {counts:?}");
    let mut names: Vec<String> =
        fs::read_dir(&dir)?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect::<Result<_, _>>()?;
    names.sort();
    println!("{name}: listing {names:?}");
    fs::rename(format!("{dir}/words.txt"), format!("{dir}/kept.txt"))?;
    let size = fs::metadata(format!("{dir}/kept.txt"))?.len();
    println!("{name}: renamed, {size} bytes");
    // Threads: clone(CLONE_VM|CLONE_THREAD), futexes for join and the mutex.
    let counter = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    *counter.lock().unwrap() += 1;
                }
                (0..1000u64).map(|x| x * i).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{name}: 4 threads summed {total}, counted {}", *counter.lock().unwrap());
    // A child process: posix_spawn's clone(CLONE_VM|CLONE_VFORK), then execve.
    let out = std::process::Command::new("/bin/echo").args(["spawned", "by", "std"]).output()?;
    println!("{name}: child said {:?}, {}", String::from_utf8_lossy(&out.stdout).trim(), out.status);
    match fs::read("/no/such/file") {
        Err(e) => println!("{name}: missing file is {:?}", e.kind()),
        Ok(_) => println!("{name}: a missing file was found?"),
    }
    std::process::exit(if counts.get("seL4") == Some(&2) { 0 } else { 3 })
}
