//! A plain Rust program for the kit's own tests: says "ready", then ticks until a signal ends it.

use std::time::Duration;

fn main() {
    println!("ready");
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}
