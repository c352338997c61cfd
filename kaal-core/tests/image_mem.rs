//! The `mem*` functions every freestanding image gets (`__image_support!` in
//! runtime.rs, in assembly) against the C library's, on the host: the assembly is taken
//! from the source, assembled under other names with gcc and run on random sizes,
//! offsets and overlaps.

use std::process::Command;

/// The assembly lines of `__image_support!`'s `mem*` functions, as written in runtime.rs.
fn image_mem_assembly() -> String {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/runtime.rs")).unwrap();
    let start = source.find("\".globl memcpy\"").expect("memcpy in runtime.rs");
    let end = start + source[start..].find(");").expect("the end of the global_asm");
    let mut out = String::from(".intel_syntax noprefix\n");
    for line in source[start..end].lines() {
        let line = line.trim();
        if let Some(text) = line.strip_prefix('"').and_then(|l| l.strip_suffix("\",")) {
            let renamed = ["memcpy", "memmove", "memset", "memcmp", "bcmp"]
                .iter()
                .fold(text.to_string(), |t, name| t.replace(name, &format!("kaal_{name}")));
            out.push_str(&renamed);
            out.push('\n');
        }
    }
    out
}

const HARNESS: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *kaal_memcpy(void *, const void *, size_t);
void *kaal_memmove(void *, const void *, size_t);
void *kaal_memset(void *, int, size_t);
int kaal_memcmp(const void *, const void *, size_t);
static int sign(int x) { return (x > 0) - (x < 0); }
int main(void) {
    unsigned char a[700], want[700];
    int bad = 0, checked = 0;
    srand(7);
    for (int it = 0; it < 100000; it++) {
        for (int i = 0; i < 700; i++) a[i] = want[i] = (unsigned char)rand();
        size_t n = rand() % 260, d = rand() % 400, s = rand() % 400;
        void *got = 0, *expected = a + d;
        switch (rand() % 4) {
        case 0:
            if ((d < s && d + n > s) || (s < d && s + n > d)) continue; /* memcpy: no overlap */
            got = kaal_memcpy(a + d, a + s, n); memcpy(want + d, want + s, n); break;
        case 1: got = kaal_memmove(a + d, a + s, n); memmove(want + d, want + s, n); break;
        case 2: { int c = rand(); got = kaal_memset(a + d, c, n); memset(want + d, c, n); break; }
        default:
            if (rand() % 2) a[s + rand() % (n + 1)] ^= 1; /* maybe differ somewhere */
            memcpy(want, a, 700);
            if (sign(kaal_memcmp(a + d, a + s, n)) != sign(memcmp(a + d, a + s, n))) bad++;
            got = expected;
        }
        checked++;
        if (got != expected || memcmp(a, want, 700) != 0) bad++;
    }
    printf("%d checked, %d wrong\n", checked, bad);
    return bad != 0;
}
"#;

#[test]
fn the_images_mem_functions_match_the_c_librarys() {
    let dir = std::env::temp_dir().join(format!("kaal-image-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mem.S"), image_mem_assembly()).unwrap();
    std::fs::write(dir.join("harness.c"), HARNESS).unwrap();
    let built = Command::new("gcc")
        .current_dir(&dir)
        .args(["-O1", "-Wa,--noexecstack", "-o", "harness", "harness.c", "mem.S"])
        .output()
        .expect("gcc runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let run = Command::new(dir.join("harness")).output().unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{report}");
    assert!(report.contains(", 0 wrong"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
