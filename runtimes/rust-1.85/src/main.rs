// Entry point of a built function: the Slipway runtime server, calling the
// user's `handler::main` for every execution.
fn main() {
    slipway_runtime::run(handler::main)
}
