//! The C allocator's settings for a long-running server (glibc, Linux).
//!
//! glibc serves big blocks with `mmap` above a threshold that rises every
//! time such a block is freed (up to 32 MiB): after one burst of large
//! bodies, every later large block comes from the heap, where the memory
//! stays once freed. So `nuage serve` runs with a fixed threshold of 1 MiB:
//! a large block goes back to the system when freed.
//!
//! Fewer arenas (`arena_max=2`) were tried too: threads then wait on each
//! other's allocations, and `_bulk_get` served 15 % fewer requests.
//!
//! The settings are glibc tunables, read only when a process starts, so
//! the server starts itself once more with them set (the process keeps its
//! id). An operator who sets `GLIBC_TUNABLES` keeps their own settings.
//!
//! glibc also keeps what a thread frees in that thread's arena, and gives
//! an arena's memory back only from its top: a long-lived block allocated
//! late pins every free page below it. Under a steady load the server's
//! twelve or so arenas each creep up to the most they ever held at once
//! (the SQLite soak: 47 → 53 MB resident in 10 minutes, of which
//! `malloc_trim` gave back 15 MB at once). So `serve` asks glibc to give
//! back the free pages of every arena every [`GIVE_BACK_EVERY`]
//! ([`give_back`]): resident memory then follows what is in use, not its
//! history.
//!
//! `give_back` is the one `unsafe` call of the workspace: the workspace
//! forbids `unsafe`; this crate only denies it (its own `[lints]`), and
//! allows it here alone, for a C function that takes no pointer.

/// What `serve` runs with.
const TUNABLES: &str = "glibc.malloc.mmap_threshold=1048576";

/// How often `serve` gives the allocator's free pages back. What is freed
/// in between stays resident until then (SQLite's readers drop and refill
/// their page caches at every write): every second, soak samples spread
/// ±13.5 %; every 250 ms, ±7 %, with no change in the requests' p99
/// (bench/README.md). A trim takes 1.25 ms at the median.
pub const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether [`give_back`] does anything here (glibc only).
pub const CAN_GIVE_BACK: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Gives the free pages of every glibc arena back to the system
/// (`malloc_trim(0)`); true if any went back. It walks each arena's free
/// chunks under that arena's lock: run it off the async workers. Its time
/// is in the metric `nuage_allocator_give_back_seconds`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back() -> bool {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    let started = std::time::Instant::now();
    // SAFETY: `malloc_trim` takes no pointer and changes only glibc's own
    // free lists, each under its arena's lock, as any `free` does; glibc
    // documents it as safe to call from any thread at any time (MT-Safe).
    let gave = unsafe { malloc_trim(0) == 1 };
    metrics::histogram!("nuage_allocator_give_back_seconds")
        .record(started.elapsed().as_secs_f64());
    gave
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() -> bool {
    false
}

/// Replaces this process by itself with [`TUNABLES`] set, unless they (or
/// the operator's own) are set already. Returns only if that cannot be
/// done, and the server then runs with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn restart_tuned() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let err = std::process::Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .env("GLIBC_TUNABLES", TUNABLES)
        .exec();
    eprintln!(
        "nuage: could not restart with the allocator's settings ({err}); running with glibc's defaults"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn restart_tuned() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Resident memory of this process, in KiB.
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Freed blocks pinned below a live one stay resident until given back.
    #[test]
    fn free_pages_below_a_live_block_go_back() {
        // In a thread of its own, so in an arena the other tests hardly use:
        // 160 MiB of 64 KiB blocks (below glibc's mmap threshold, so from
        // the heap), one kept in every 16, the rest freed.
        let freed_mib = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..2560).map(|i| vec![i as u8; 64 << 10]).collect();
            let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(16).collect();
            let before = rss_kib();
            let gave = super::give_back();
            let after = rss_kib();
            drop(kept);
            assert!(gave, "nothing given back");
            before.saturating_sub(after) / 1024
        })
        .join()
        .unwrap();
        assert!(
            freed_mib >= 100,
            "only {freed_mib} MiB went back of 150 freed"
        );
    }
}
