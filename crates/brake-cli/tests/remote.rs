//! `-S`: jobs on other machines over OpenSSH, against real `sshd` servers the tests start
//! themselves (`support/sshd.rs`), and the stop contract on every host.

mod support;

use std::process::Command;

use support::sshd::Farm;

/// The harness itself: a server of the farm takes the farm's key and runs a command.
#[test]
fn the_farm_serves_ssh() {
    let Some(farm) = Farm::new("the_farm_serves_ssh") else {
        return;
    };
    let server = farm.start("127.0.0.2");
    let mut words = farm.ssh_command();
    words.push_str(&format!(" -p {} {} echo hi", server.port, server.address));
    let argv: Vec<&str> = words.split_whitespace().collect();
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hi\n");
}

/// The harness's partition: a server in a network namespace answers until the link is cut.
#[test]
fn the_isolated_server_serves_ssh_until_the_cut() {
    let Some(farm) = Farm::new("the_isolated_server_serves_ssh_until_the_cut") else {
        return;
    };
    let Some(isolated) = farm.isolated(1) else {
        return;
    };
    let ssh = |extra: &str| {
        let words = format!(
            "{} -o ConnectTimeout=2 -p {} {} echo {extra}",
            farm.ssh_command(),
            isolated.server.port,
            isolated.server.address
        );
        let argv: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        Command::new(&argv[0]).args(&argv[1..]).output().unwrap()
    };
    assert_eq!(ssh("before").stdout, b"before\n");
    isolated.cut();
    assert!(!ssh("after").status.success());
}
