fn main() -> std::process::ExitCode {
    meshfed::run().into()
}

// A large federation allocates hundreds of thousands of small strings and
// values on two threads: with glibc's malloc, allocating and freeing them was
// a fifth of all instructions at 20x100 (bench/README.md). The binary only:
// the library leaves the choice to whoever links it (the fuzz targets, tests).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
