//! A stand-alone `berth oci` for testing and benchmarking before the main binary wires it in:
//! `cargo run --release -p berth-runtime --example oci -- run -b BUNDLE ID`.

fn main() {
    let code = berth_runtime::oci_main(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
