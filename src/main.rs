fn main() -> std::process::ExitCode {
    meshfed::run().into()
}
