//! The REPL typed through a pseudo-terminal, as a person would: load the model, chat twice,
//! press Ctrl-C during a long generation, and keep going with the model still loaded.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Terminal {
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
    /// How much of `screen` earlier expectations consumed.
    seen: usize,
    child: std::process::Child,
}

impl Terminal {
    fn start(dir: &std::path::Path) -> Terminal {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty fills two descriptors we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let mut command = Command::new(env!("CARGO_BIN_EXE_drift-script"));
        command
            .current_dir(dir)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
        // controlling terminal is the pty, so Ctrl-C reaches the REPL as SIGINT.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let screen = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal {
            master,
            screen,
            seen: 0,
            child,
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until `text` appears after what earlier expectations matched; returns what came
    /// before it.
    fn expect(&mut self, text: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            {
                let screen = self.screen.lock().unwrap();
                if let Some(i) = screen[self.seen..].find(text) {
                    let before = screen[self.seen..self.seen + i].to_string();
                    self.seen += i + text.len();
                    return before;
                }
            }
            if started.elapsed() > timeout {
                panic!(
                    "waited {timeout:?} for {text:?}; the terminal shows:\n{}",
                    &self.screen.lock().unwrap()[self.seen..]
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn a_session_survives_ctrl_c_during_generation() {
    // Fetch the model first so the session's timing does not include a download.
    drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let dir = std::env::temp_dir().join(format!("drift-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = Terminal::start(&dir);
    let long = Duration::from_secs(60);
    t.expect("REPL", long);
    // The terminal also echoes what is typed (with redraws), so each step prints a marker
    // that only the output contains: `print("x:" + …)` shows up as `[repl] x:…`.
    t.send("let m = model(); print(\"loaded\")\r");
    t.expect("] loaded", long);
    t.expect("> ", long);
    t.send("print(\"one:\" + m.chat([#{role: \"user\", content: \"Say hello.\"}], #{max_tokens: 12, seed: 1}))\r");
    t.expect("] one:", long);
    t.expect("> ", long);
    t.send("let reply = m.chat([#{role: \"user\", content: \"Name a fruit.\"}], #{max_tokens: 12, seed: 2}); print(\"two:\" + reply.len())\r");
    t.expect("] two:", long);
    t.expect("> ", long);

    // A generation that would take about a minute, stopped after a moment.
    t.send("m.chat([#{role: \"user\", content: \"Write a very long story about the sea.\"}], #{max_tokens: 6000, temperature: 1.0})\r");
    std::thread::sleep(Duration::from_millis(1500));
    let interrupted_at = Instant::now();
    t.send("\x03");
    t.expect("interrupted", Duration::from_secs(10));
    t.expect("> ", long);
    assert!(
        interrupted_at.elapsed() < Duration::from_secs(5),
        "Ctrl-C took {:?}",
        interrupted_at.elapsed()
    );

    // Still alive, model still loaded, variables kept.
    t.send("print(\"alive:\" + (reply.len() > 0 && type_of(m) == \"Model\"))\r");
    t.expect("] alive:true", long);
    t.expect("> ", long);
    // An entry continues over lines while it is incomplete.
    t.send("fn add(a, b) {\r");
    t.expect("… ", long);
    t.send("a + b\r");
    t.expect("… ", long);
    t.send("}\r");
    t.expect("> ", long);
    t.send("print(\"sum:\" + add(2, 40))\r");
    t.expect("] sum:42", long);
    t.expect("> ", long);
    // Tab completes registered functions.
    t.send("count_t\t");
    t.expect("count_tokens", long);
    t.send("\x03"); // Ctrl-C at the prompt clears the line
    t.expect("> ", long);
    t.send(":vars\r");
    t.expect("let m: Model", long);
    t.expect("let reply: string", long);
    t.expect("> ", long);
    t.send(":quit\r");
    let status = t.child.wait().unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
