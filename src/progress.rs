//! The progress line of a batch run: units done of total, generated tokens per second and the
//! time left, on stderr while stderr is a terminal, redrawn in place (carriage return, one
//! line) and cleared at the end. Lines the run prints go through [`eprintln`], which clears
//! the line, prints, and draws it again, so the two never mix. Nothing of it reaches records
//! or standard output.
//!
//! Owns: the line's state and drawing, the unit counts behind it ([`UnitCounts`], kept by the
//! script host) and their wording ([`Status::line`]). Imports nothing of the crate: the host
//! hands in a closure that reads its counts and its models' token counters.
//!
//! Written by hand rather than with indicatif: everything the line says is computed here
//! (units from the run's store, resumed and other shards' units included, tokens from the
//! models' counters, the time left from the units this process ran), so indicatif would only
//! draw it; what the line needs beyond drawing is that every line the host prints, from the
//! main pass and from `--jobs` workers, clears and redraws it, which is one mutex around
//! stderr either way; and indicatif's stderr target hides itself off a terminal with no
//! switch to force it on (`--progress`). Drawing is a carriage return, the text cut to the
//! terminal's width (so it never wraps), spaces over what is left of the previous text, and a
//! carriage return, so the cursor waits at the line's start and a line printed by code that
//! knows nothing of it writes over it: no escape sequences, so it works on any terminal,
//! `TERM=dumb` included.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How often the line is redrawn while nothing else happens (tokens per second and the time
/// left change while a unit runs).
const TICK: Duration = Duration::from_millis(500);

/// The environment variable that chooses the mode when neither option is given.
pub const ENV: &str = "DRIFT_SCRIPT_PROGRESS";

/// Whether a batch run shows the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// When stderr is a terminal.
    Auto,
    /// Also when stderr is a file or a pipe (`--progress`).
    Always,
    /// Never (`--no-progress`).
    Never,
}

impl Mode {
    /// From `--progress` / `--no-progress`, else from `DRIFT_SCRIPT_PROGRESS` (`1` or `on`:
    /// always, `0` or `off`: never, `auto` or empty: when stderr is a terminal).
    pub fn choose(always: bool, never: bool) -> Result<Mode, String> {
        match (always, never) {
            (true, true) => Err("--progress and --no-progress contradict each other".into()),
            (true, false) => Ok(Mode::Always),
            (false, true) => Ok(Mode::Never),
            (false, false) => Mode::from_env_value(std::env::var(ENV).ok().as_deref()),
        }
    }

    fn from_env_value(value: Option<&str>) -> Result<Mode, String> {
        match value.map(str::trim) {
            None | Some("" | "auto") => Ok(Mode::Auto),
            Some("1" | "on" | "always") => Ok(Mode::Always),
            Some("0" | "off" | "never") => Ok(Mode::Never),
            Some(other) => Err(format!(
                "{ENV}={other}: expected 1 (always show the progress line), 0 (never) or auto \
                 (when stderr is a terminal)"
            )),
        }
    }

    /// Whether the line is drawn in this process.
    pub fn shows_line(self) -> bool {
        match self {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Auto => std::io::stderr().is_terminal(),
        }
    }
}

/// A run's units as the progress line counts them, shared by the main pass and the `--jobs`
/// workers. The host notes what happens; [`UnitCounts::status`] reads it.
#[derive(Default)]
pub struct UnitCounts {
    /// The total the script declared with `progress(total)`, plus one (0: not declared).
    total_plus_one: AtomicU64,
    /// Units completed by earlier sessions of this run, found when its folder was opened.
    resumed: AtomicU64,
    /// Units this process ran to the end.
    finished: AtomicU64,
    /// Keys of units met that belong to other shards (`--shard`): done, as far as this
    /// process is concerned. A set, since every `--jobs` pass meets them.
    elsewhere: Mutex<HashSet<String>>,
    /// When this process began its first unit, and the tokens generated until then.
    first_unit: Mutex<Option<(Instant, u64)>>,
    /// When this process last finished a unit.
    last_finish: Mutex<Option<Instant>>,
}

impl UnitCounts {
    pub fn declare_total(&self, total: u64) {
        self.total_plus_one
            .store(total.saturating_add(1), Ordering::SeqCst);
    }

    pub fn total(&self) -> Option<u64> {
        self.total_plus_one.load(Ordering::SeqCst).checked_sub(1)
    }

    pub fn set_resumed(&self, units: u64) {
        self.resumed.store(units, Ordering::SeqCst);
    }

    /// A unit begins here; `generated_tokens` reads the models' counters, and is called only
    /// for the first unit.
    pub fn unit_begins(&self, generated_tokens: impl FnOnce() -> u64) {
        let mut first = self.first_unit.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some((Instant::now(), generated_tokens()));
        }
    }

    pub fn unit_finished(&self) {
        let mut last = self.last_finish.lock().unwrap_or_else(|e| e.into_inner());
        self.finished.fetch_add(1, Ordering::SeqCst);
        *last = Some(Instant::now());
    }

    pub fn unit_elsewhere(&self, key: &str) {
        let mut keys = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        if !keys.contains(key) {
            keys.insert(key.to_string());
        }
    }

    /// What the line says now, or `None` while there is nothing to say (no total declared and
    /// no unit met yet). `generated_tokens` is the models' counter now; `shard` the run's
    /// `--shard i/n`.
    pub fn status(
        &self,
        label: &str,
        generated_tokens: u64,
        shard: Option<(u64, u64)>,
    ) -> Option<Status> {
        let total = self.total();
        let resumed = self.resumed.load(Ordering::SeqCst);
        let finished = self.finished.load(Ordering::SeqCst);
        let elsewhere = self
            .elsewhere
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64;
        let first = *self.first_unit.lock().unwrap_or_else(|e| e.into_inner());
        let last_finish = *self.last_finish.lock().unwrap_or_else(|e| e.into_inner());
        if total.is_none() && first.is_none() && resumed + elsewhere == 0 {
            return None;
        }
        let (working_for, tokens) = match first {
            Some((since, tokens_then)) => (
                Some(since.elapsed()),
                generated_tokens.saturating_sub(tokens_then),
            ),
            None => (None, 0),
        };
        let finished_after = first
            .zip(last_finish)
            .map(|((since, _), last)| last.saturating_duration_since(since));
        Some(Status {
            label: label.to_string(),
            done: resumed + finished + elsewhere,
            total,
            finished_here: finished,
            working_for,
            finished_after,
            tokens,
            shard,
        })
    }
}

/// One reading of a run's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The script's name.
    pub label: String,
    /// Units done: completed by earlier sessions, by this process, or belonging to other shards.
    pub done: u64,
    pub total: Option<u64>,
    /// Units this process ran to the end (the time left is estimated from these).
    pub finished_here: u64,
    /// Time since this process began its first unit.
    pub working_for: Option<Duration>,
    /// From then to when it last finished one.
    pub finished_after: Option<Duration>,
    /// Tokens the models generated since then.
    pub tokens: u64,
    /// `--shard i/n`: this process runs about one unit in `n` of those left (`None` without).
    pub shard: Option<(u64, u64)>,
}

impl Status {
    /// `[selfchat.rhai] units 1/3, 31.2 tok/s, 0:14 left`: each part once it is known.
    pub fn line(&self) -> String {
        let mut parts = vec![match self.total {
            Some(total) => format!("units {}/{total}", self.done),
            None => format!("units {} done", self.done),
        }];
        if let Some((index, count)) = self.shard {
            parts[0].push_str(&format!(" (shard {index}/{count})"));
        }
        if let Some(rate) = self.tokens_per_second() {
            parts.push(format!("{rate:.1} tok/s"));
        }
        if let Some(left) = self.time_left() {
            parts.push(format!("{} left", clock(left)));
        }
        format!("[{}] {}", self.label, parts.join(", "))
    }

    /// Generated tokens per second since this process began its first unit.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let seconds = self.working_for?.as_secs_f64();
        (self.tokens > 0 && seconds > 0.0).then(|| self.tokens as f64 / seconds)
    }

    /// The units left (for a shard, its expected share of them) at the pace of the units this
    /// process finished (from the first one's start to the last one's end, per unit; with
    /// `--jobs` several run at once, and the pace counts that), less the time since the last
    /// finished, so the estimate counts down between units; but never less than the units
    /// left after the one under way, so a slow unit does not make it claim zero.
    pub fn time_left(&self) -> Option<Duration> {
        let left = self.total?.checked_sub(self.done).filter(|&n| n > 0)?;
        if self.finished_here == 0 {
            return None;
        }
        let paced_over = self.finished_after?.as_secs_f64();
        let since_last = self.working_for?.as_secs_f64() - paced_over;
        let per_unit = paced_over / self.finished_here as f64;
        let shards = self.shard.map_or(1, |(_, count)| count.max(1));
        let own_left = left as f64 / shards as f64;
        let counting_down = own_left * per_unit - since_last.max(0.0);
        let floor = (own_left - 1.0).max(0.0) * per_unit;
        Some(Duration::from_secs_f64(counting_down.max(floor)))
    }
}

/// `0:42`, `12:05`, `3:07:45`.
pub fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs_f64().round() as u64;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// What the line reads its text from; `None` while there is nothing to show.
pub type Source = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The line on the screen. Held only to write stderr, never while reading the source (which
/// takes the host's locks), so a thread that prints while holding one cannot deadlock.
struct Screen {
    active: bool,
    /// The text last drawn, to draw again after a printed line.
    text: String,
}

static SCREEN: Mutex<Screen> = Mutex::new(Screen {
    active: false,
    text: String::new(),
});

/// Held while a text is read from the source and drawn, so drawings happen in the order their
/// counts were read and the line never goes back.
static DRAWING: Mutex<Option<Source>> = Mutex::new(None);

fn screen() -> std::sync::MutexGuard<'static, Screen> {
    SCREEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints one line to stderr (as `eprintln!` does, the same bytes when no progress line is
/// shown); while one is, it is cleared first and drawn again after.
pub fn eprintln(args: std::fmt::Arguments<'_>) {
    let mut screen = screen();
    let mut out = String::new();
    if screen.active {
        clear_into(&mut screen, &mut out);
    }
    out.push_str(&args.to_string());
    out.push('\n');
    if screen.active && !screen.text.is_empty() {
        let text = screen.text.clone();
        draw_into(&mut screen, &text, &mut out);
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// Draws the line now with fresh counts (after a unit finished), when one is shown.
pub fn refresh() {
    let drawing = DRAWING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(source) = drawing.as_ref() else {
        return;
    };
    let text = source();
    let mut screen = screen();
    if !screen.active {
        return;
    }
    let mut out = String::new();
    match text {
        Some(text) if text != screen.text || shown_columns() == 0 => {
            draw_into(&mut screen, &text, &mut out)
        }
        _ => return,
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// Shows the line until the returned guard is dropped, which clears it: drawn from `source`
/// every [`TICK`] and by [`refresh`].
pub fn show(source: Source) -> LineGuard {
    *DRAWING.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
    screen().active = true;
    let (stop, stopped) = mpsc::channel::<()>();
    let ticker = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                refresh();
            }
        })
        .ok();
    refresh();
    LineGuard {
        stop: Some(stop),
        ticker,
    }
}

/// Clears and stops the progress line when dropped (the run ended, well or not).
pub struct LineGuard {
    stop: Option<mpsc::Sender<()>>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LineGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        *DRAWING.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let mut screen = screen();
        let mut out = String::new();
        clear_into(&mut screen, &mut out);
        screen.active = false;
        screen.text.clear();
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

/// Spaces over the drawing, the cursor back at the line's start. Takes the screen so that it is
/// called with the lock held, which every write of the drawn width is.
fn clear_into(_held: &mut Screen, out: &mut String) {
    let shown = shown_columns();
    if shown > 0 {
        out.push('\r');
        out.extend(std::iter::repeat_n(' ', shown));
        out.push('\r');
        SHOWN_COLUMNS.store(0, Ordering::Relaxed);
    }
}

/// Columns of the screen's line the drawing covers (0: cleared). Written under the screen's
/// lock; an atomic so that the SIGINT handler, which may not lock, can read it.
static SHOWN_COLUMNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn shown_columns() -> usize {
    SHOWN_COLUMNS.load(Ordering::Relaxed)
}

/// Clears a drawn progress line with carriage returns and spaces, as `clear_into` does, using
/// only `write(2)` and an atomic load, so that a signal handler may call it; says whether there
/// was a line to clear.
pub fn clear_from_signal_handler() -> bool {
    const SPACES: [u8; 256] = [b' '; 256];
    let mut left = shown_columns();
    if left == 0 {
        return false;
    }
    // SAFETY (the writes): write(2) is async-signal-safe; the buffers are static.
    unsafe { libc::write(2, b"\r".as_ptr().cast(), 1) };
    while left > 0 {
        let n = left.min(SPACES.len());
        let written = unsafe { libc::write(2, SPACES.as_ptr().cast(), n) };
        if written <= 0 {
            break;
        }
        left -= written as usize;
    }
    unsafe { libc::write(2, b"\r".as_ptr().cast(), 1) };
    true
}

/// The text cut to the terminal's width less one column (a full line would wrap on some
/// terminals, and a wrapped line cannot be redrawn with a carriage return), then spaces over
/// the rest of what was drawn before. The cursor goes back to the line's start, so that a line
/// printed by code that does not know of the progress line (a warning from a library, a
/// panic) writes over it rather than after it; the next drawing follows on the line below.
fn draw_into(screen: &mut Screen, text: &str, out: &mut String) {
    let width = terminal_columns().saturating_sub(1).max(1);
    let cut: String = text.chars().take(width).collect();
    let columns = cut.chars().count();
    out.push('\r');
    out.push_str(&cut);
    let stale = shown_columns().min(width).saturating_sub(columns);
    out.extend(std::iter::repeat_n(' ', stale));
    out.push('\r');
    screen.text = text.to_string();
    SHOWN_COLUMNS.store(columns, Ordering::Relaxed);
}

/// The width of the terminal stderr is on, or 80 when it says none (a file, a pseudo-terminal
/// nobody sized).
fn terminal_columns() -> usize {
    // SAFETY: TIOCGWINSZ fills a `winsize` we own; on failure it is left zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        size.ws_col as usize
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(done: u64, total: Option<u64>, finished_here: u64, secs: u64, tokens: u64) -> Status {
        Status {
            label: "selfchat.rhai".into(),
            done,
            total,
            finished_here,
            working_for: Some(Duration::from_secs(secs)),
            finished_after: Some(Duration::from_secs(secs)),
            tokens,
            shard: None,
        }
    }

    #[test]
    fn the_line_says_units_rate_and_time_left() {
        assert_eq!(
            status(1, Some(3), 1, 20, 640).line(),
            "[selfchat.rhai] units 1/3, 32.0 tok/s, 0:40 left"
        );
        // Resumed units count as done, but the pace is this process's own.
        assert_eq!(
            status(5, Some(8), 1, 90, 0).line(),
            "[selfchat.rhai] units 5/8, 4:30 left"
        );
        assert_eq!(
            status(3, Some(3), 3, 60, 960).line(),
            "[selfchat.rhai] units 3/3, 16.0 tok/s"
        );
        // Nothing finished here yet: no estimate. No total declared: no estimate either.
        assert_eq!(
            status(0, Some(3), 0, 5, 100).line(),
            "[selfchat.rhai] units 0/3, 20.0 tok/s"
        );
        assert_eq!(
            status(4, None, 4, 8, 0).line(),
            "[selfchat.rhai] units 4 done"
        );
        // More units than declared: no time left rather than a negative one.
        assert_eq!(status(5, Some(3), 5, 8, 0).time_left(), None);
    }

    #[test]
    fn the_time_left_counts_down_between_units_but_not_below_the_units_after_this_one() {
        // One unit finished after 20 s, two left: 40 s at that moment.
        let mut s = status(1, Some(3), 1, 20, 0);
        assert_eq!(s.time_left(), Some(Duration::from_secs(40)));
        s.working_for = Some(Duration::from_secs(30));
        assert_eq!(s.time_left(), Some(Duration::from_secs(30)));
        // The second unit takes longer than the first: still the last unit's 20 s.
        s.working_for = Some(Duration::from_secs(55));
        assert_eq!(s.time_left(), Some(Duration::from_secs(20)));
    }

    #[test]
    fn a_shard_expects_its_share_of_the_units_left() {
        let mut s = status(6, Some(12), 2, 100, 0);
        s.shard = Some((1, 3));
        // 6 left, about 2 of them this shard's, 50 s each.
        assert_eq!(s.time_left(), Some(Duration::from_secs(100)));
        assert!(
            s.line()
                .starts_with("[selfchat.rhai] units 6/12 (shard 1/3), ")
        );
    }

    #[test]
    fn clock_reads_minutes_then_hours() {
        assert_eq!(clock(Duration::from_secs(0)), "0:00");
        assert_eq!(clock(Duration::from_secs_f64(41.6)), "0:42");
        assert_eq!(clock(Duration::from_secs(725)), "12:05");
        assert_eq!(clock(Duration::from_secs(11_265)), "3:07:45");
    }

    #[test]
    fn counts_start_with_resumed_units_and_count_other_shards_once() {
        let counts = UnitCounts::default();
        assert_eq!(counts.status("s", 0, None), None, "nothing to say yet");
        counts.declare_total(4);
        counts.set_resumed(2);
        assert_eq!(counts.status("s", 0, None).unwrap().done, 2);
        counts.unit_elsewhere("7");
        counts.unit_elsewhere("7"); // the main pass meets it again after a worker did
        counts.unit_begins(|| 10);
        counts.unit_begins(|| panic!("read only for the first unit"));
        counts.unit_finished();
        let status = counts.status("s", 30, Some((0, 2))).unwrap();
        assert_eq!((status.done, status.finished_here), (4, 1));
        assert_eq!(status.tokens, 20, "tokens since the first unit began");
        assert_eq!(status.total, Some(4));
    }

    #[test]
    fn the_mode_comes_from_the_options_then_the_environment() {
        assert_eq!(Mode::from_env_value(None), Ok(Mode::Auto));
        assert_eq!(Mode::from_env_value(Some("")), Ok(Mode::Auto));
        assert_eq!(Mode::from_env_value(Some("1")), Ok(Mode::Always));
        assert_eq!(Mode::from_env_value(Some("off")), Ok(Mode::Never));
        let err = Mode::from_env_value(Some("yes")).unwrap_err();
        assert!(
            err.starts_with("DRIFT_SCRIPT_PROGRESS=yes: expected 1"),
            "{err}"
        );
        assert_eq!(Mode::choose(true, false), Ok(Mode::Always));
        assert_eq!(Mode::choose(false, true), Ok(Mode::Never));
        assert!(Mode::choose(true, true).is_err());
    }
}
