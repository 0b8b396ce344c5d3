//! `berth shim` as a standalone binary, for the shim's own tests and for measuring its
//! resident size without the rest of Berth linked in.

fn main() {
    std::process::exit(berth_shim::shim_main(std::env::args_os().skip(1).collect()));
}
