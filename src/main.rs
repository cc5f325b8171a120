//! `drift-script`: parses the command line, runs it, and prints the error chain once on failure.

fn main() -> std::process::ExitCode {
    match drift_script::cli::run(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let mut shown = error.to_string();
            eprintln!("error: {shown}");
            for cause in error.chain().skip(1) {
                // Errors that include their source's text in their own would say it twice.
                let cause = cause.to_string();
                if !shown.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                    shown.push_str(&cause);
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}
