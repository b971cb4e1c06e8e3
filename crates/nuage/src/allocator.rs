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

/// What `serve` runs with.
const TUNABLES: &str = "glibc.malloc.mmap_threshold=1048576";

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
