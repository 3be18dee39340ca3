fn main() -> std::process::ExitCode {
    keep_freed_memory();
    meshfed::run().into()
}

// A large federation allocates hundreds of thousands of small strings and
// values on two threads: with glibc's malloc, allocating and freeing them was
// a fifth of all instructions at 20x100 (bench/README.md). The binary only:
// the library leaves the choice to whoever links it (the fuzz targets, tests).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc hands memory freed for 10 ms back to the kernel
/// (`mi_option_purge_delay`, whose default is 10). A run frees as it goes
/// (the spec's parse, each cluster's files) and allocates again: the pages
/// handed back came back as new transparent huge pages, each zeroed by the
/// kernel again (the kernel's `clear_page_erms` was 13% of a 20x100 run's
/// samples, and page faults went from 370 to between 750 and 2,300 with the
/// timing of the purges). A run lasts a fraction of a second: nothing is
/// handed back before it exits.
fn keep_freed_memory() {
    use std::ffi::{c_int, c_long};
    // `mi_option_purge_delay` in `enum mi_option_e` of mimalloc.h (v2, as
    // built by libmimalloc-sys 0.1.49: c_src/mimalloc/v2/include/mimalloc.h),
    // which libmimalloc-sys does not name. -1: never purge.
    const MI_OPTION_PURGE_DELAY: c_int = 15;
    extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }
    // SAFETY: sets one of mimalloc's options, a plain store into its option
    // table, valid at any time (later reads see it).
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
