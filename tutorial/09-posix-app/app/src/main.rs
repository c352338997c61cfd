//! Uses std the way an application does: arguments, the environment, files and
//! directories, formatting, collections, threads, a child process and its exit status;
//! with `serve PORT COUNT`, a TCP server (std::net) that answers COUNT connections and
//! logs them to a file. Prints `NAME: ...` lines (NAME as it was run) that lesson 09
//! shows and the boot tests check.
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// `serve PORT COUNT`: answers each connection's first line, COUNT times, and logs what
/// it was told in `dir`/served.log.
fn serve(name: &str, dir: &str, port: u16, count: usize) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    println!("{name}: serving on {}", listener.local_addr()?);
    // A fresh log each run (the disk keeps what earlier runs wrote).
    let mut log = fs::File::create(format!("{dir}/served.log"))?;
    for _ in 0..count {
        let (stream, peer) = listener.accept()?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        let line = line.trim_end();
        writeln!(&stream, "{name} on seL4 heard: {line}")?;
        writeln!(log, "{} said {line}", peer.ip())?;
    }
    let lines = fs::read_to_string(format!("{dir}/served.log"))?.lines().count();
    println!("{name}: served {count} connection(s); the log has {lines} line(s)");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // Named as it is installed (lesson 09's /bin/app, the boot tests' /bin/rust-app):
    // its lines and its scratch directory under /tmp carry that name.
    let name = args.first().and_then(|a| a.rsplit('/').next()).filter(|n| !n.is_empty()).unwrap_or("app").to_string();
    let dir = format!("/tmp/{name}");
    if let (Some("serve"), Some(port)) = (args.get(1).map(String::as_str), args.get(2)) {
        let port = port.parse().map_err(|_| std::io::Error::other("serve PORT COUNT: bad port"))?;
        let count = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(1);
        return serve(&name, &format!("{dir}-server"), port, count);
    }
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
