//! `drift-script`: parses the command line, runs it, and prints the error chain once on failure.

fn main() -> std::process::ExitCode {
    match drift_script::cli::run(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of standard output went away (`| head`): nothing is wrong.
        Err(error) if drift_script::cli::stdout::was_closed(&error) => {
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            // Each error renders only its own part; its causes follow, one a line.
            // Through the progress module: a progress line still drawn is cleared first.
            drift_script::progress::eprintln(format_args!("error: {error}"));
            for cause in error.chain().skip(1) {
                drift_script::progress::eprintln(format_args!("  caused by: {cause}"));
            }
            std::process::ExitCode::FAILURE
        }
    }
}
