fn main() -> std::process::ExitCode {
    meshfed::cli::run().into()
}
