//! Which x86 instruction set the kernels run on, detected once at run time, and
//! `compiled_for_isa!`, which compiles element-wise code once per instruction set.
//!
//! Apart from `kernels` and `quant` so that both can use it without importing each other.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    Avx2,
    Portable,
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        })
    }
}

/// The best instruction set this CPU offers, unless `DRIFT_SCRIPT_ISA` asks for a lower one.
pub fn detected_isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = best_isa();
        let value = std::env::var("DRIFT_SCRIPT_ISA").ok();
        isa_setting(value.as_deref(), best).unwrap_or_else(|problem| {
            crate::progress::eprintln(format_args!("warning: {problem}"));
            best
        })
    })
}

/// The instruction set `DRIFT_SCRIPT_ISA` (`value`) asks for on a CPU whose best is `best`.
fn isa_setting(value: Option<&str>, best: Isa) -> Result<Isa, String> {
    let asked = match value {
        None => return Ok(best),
        Some("portable") => Isa::Portable,
        Some("avx2") => Isa::Avx2,
        Some("avx512") => Isa::Avx512Vnni,
        Some(other) => {
            return Err(format!(
                "DRIFT_SCRIPT_ISA={other:?} is not one of portable, avx2, avx512; using {best}"
            ));
        }
    };
    // Each set includes the ones below it.
    let rank = |isa: Isa| match isa {
        Isa::Portable => 0,
        Isa::Avx2 => 1,
        Isa::Avx512Vnni => 2,
    };
    if rank(asked) > rank(best) {
        return Err(format!(
            "DRIFT_SCRIPT_ISA asks for {asked}, which this CPU lacks; using {best}"
        ));
    }
    Ok(asked)
}

pub(crate) fn best_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Isa::Avx512Vnni;
        }
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// Defines `$name(isa, args…)`, which runs the `#[inline(always)]` function `$inner` compiled
/// for the instruction set `isa` names. Element-wise code outside the kernels is otherwise built
/// for baseline x86-64 (4 lanes); the arithmetic is written lane by lane and Rust never fuses or
/// reorders floats, so every width gives the same bits, only sooner.
macro_rules! compiled_for_isa {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $inner:path;) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::model::local::isa::Isa, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                // SAFETY: `isa` names an instruction set only where it was detected.
                match isa {
                    $crate::model::local::isa::Isa::Avx512Vnni => return unsafe { avx512($($arg),*) },
                    $crate::model::local::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::model::local::isa::Isa::Portable => {}
                }
            }
            $inner($($arg),*)
        }
    };
}
pub(crate) use compiled_for_isa;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_setting_lowers_the_set_and_names_bad_values() {
        use Isa::*;
        assert_eq!(isa_setting(None, Avx512Vnni), Ok(Avx512Vnni));
        assert_eq!(isa_setting(Some("portable"), Avx512Vnni), Ok(Portable));
        assert_eq!(isa_setting(Some("avx2"), Avx512Vnni), Ok(Avx2));
        assert_eq!(isa_setting(Some("avx512"), Avx512Vnni), Ok(Avx512Vnni));
        let lacking = isa_setting(Some("avx512"), Avx2).unwrap_err();
        assert!(
            lacking.contains("lacks") && lacking.contains("avx2"),
            "{lacking}"
        );
        let unknown = isa_setting(Some("sse4"), Avx2).unwrap_err();
        assert!(
            unknown.contains("\"sse4\"") && unknown.contains("portable, avx2, avx512"),
            "{unknown}"
        );
    }
}
