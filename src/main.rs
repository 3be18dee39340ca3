fn main() -> std::process::ExitCode {
    meshfed::run().into()
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
