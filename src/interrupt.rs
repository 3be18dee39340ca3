//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal or ssh session) while
//! `generate -o` writes: clean up, then die of the signal as usual.
//!
//! `install` blocks SIGINT, SIGTERM and SIGHUP in the calling thread, which
//! must be the main thread before it starts any other (threads inherit the
//! mask), and waits for them with `sigwait(3)` on a thread of its own. That thread runs
//! ordinary code, so the clean-up may take locks and remove files, which a
//! signal handler may not. When the clean-up says so, the signal's default
//! action is restored and the signal raised again: the parent sees the
//! process killed by that signal, as shells expect (a loop of runs stops
//! on Ctrl-C). This needs only `libc`; the `signal-hook` crate would do the
//! same through a self-pipe with two more crates.
//!
//! Not for `check` or the stream to stdout: they write nothing that could be
//! left half done, so the signal's default action is right for them.

/// Runs `on_signal` on SIGINT, SIGTERM or SIGHUP; when it returns true the
/// process dies of that signal, otherwise (the run is past the point of no
/// return and finishes on its own) the signal is ignored. Only the first
/// call in a process takes effect.
#[cfg(unix)]
pub fn install(on_signal: fn() -> bool) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| watch(on_signal));
}

#[cfg(unix)]
fn watch(on_signal: fn() -> bool) {
    // SAFETY: plain libc calls on local, zeroed structures; the set is
    // initialised with sigemptyset before any other use, and sigaction with a
    // null new action only reads the current one.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        let mut watched = 0;
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // A signal the parent set to be ignored stays ignored (a shell
            // ignores SIGINT in `cmd &`); waiting for it would receive it.
            let mut current: libc::sigaction = std::mem::zeroed();
            let ignored =
                libc::sigaction(signal, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == libc::SIG_IGN;
            if !ignored {
                libc::sigaddset(&mut set, signal);
                watched += 1;
            }
        }
        if watched == 0 || libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    let spawned = std::thread::Builder::new()
        .name("meshfed-signals".into())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` is a valid, initialised signal set; `signal` a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                return;
            }
            if on_signal() {
                die_of(signal, &set);
            }
        });
    if spawned.is_err() {
        // Without the waiting thread the signals must not stay blocked.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

#[cfg(not(unix))]
pub fn install(_on_signal: fn() -> bool) {}

/// Restores the default action of `signal` and raises it in this thread, the
/// only one where it is unblocked; exits 128 + signal should that return.
#[cfg(unix)]
fn die_of(signal: libc::c_int, set: &libc::sigset_t) -> ! {
    // SAFETY: restoring SIG_DFL and raising a signal are plain libc calls.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut());
        libc::raise(signal);
    }
    std::process::exit(128 + signal)
}
