// SPDX-License-Identifier: AGPL-3.0-or-later
//! Asking for a secret on the controlling terminal without echo.
//!
//! Uses `/dev/tty` and the `stty` program (`stty -echo`, then `stty echo`), so no unsafe
//! terminal calls are needed. Where either is missing the caller reports that the PIN must
//! come from the environment instead.

/// Prints `prompt` on the terminal and reads one line with echo off; the line ending is
/// removed. The error says why the terminal could not be used.
#[cfg(unix)]
pub fn prompt_hidden(prompt: &str) -> Result<String, String> {
    use std::fs::{File, OpenOptions};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let mut tty = OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(|e| format!("/dev/tty: {e}"))?;
    let stty = |tty: &File, arg: &str| -> Result<(), String> {
        let input = tty.try_clone().map_err(|e| format!("/dev/tty: {e}"))?;
        let status = Command::new("stty")
            .arg(arg)
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("stty: {e}"))?;
        if status.success() { Ok(()) } else { Err(format!("stty {arg} failed ({status})")) }
    };

    /// Turns echo back on however the read ends.
    struct EchoOff<'a>(&'a File, &'a dyn Fn(&File, &str) -> Result<(), String>);
    impl Drop for EchoOff<'_> {
        fn drop(&mut self) {
            let _ = (self.1)(self.0, "echo");
        }
    }

    stty(&tty, "-echo")?;
    tty.write_all(prompt.as_bytes()).map_err(|e| format!("/dev/tty: {e}"))?;
    tty.flush().map_err(|e| format!("/dev/tty: {e}"))?;
    let mut line = String::new();
    let read = {
        let _restore = EchoOff(&tty, &stty);
        BufReader::new(&tty).read_line(&mut line)
    };
    let _ = tty.write_all(b"\n");
    match read {
        Ok(0) => Err("end of input".to_string()),
        Ok(_) => {
            while line.ends_with(['\n', '\r']) {
                line.pop();
            }
            Ok(line)
        }
        Err(e) => Err(format!("/dev/tty: {e}")),
    }
}

/// Not supported off Unix: the PIN must come from the environment.
#[cfg(not(unix))]
pub fn prompt_hidden(_prompt: &str) -> Result<String, String> {
    Err("hidden terminal input is only implemented on Unix".to_string())
}
