//! `drift_script::stats` on hand-computed examples and published t-table values.

use drift_script::stats::{
    StatsError, Summary, ci_bootstrap, ci_t, group_by, mean, sem, std, summarize, t_quantile,
};
use serde_json::json;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn t_quantiles_match_the_table() {
    // (p, df, value) from standard t tables (4-5 significant digits).
    let table = [
        (0.975, 1.0, 12.7062),
        (0.975, 2.0, 4.3027),
        (0.975, 5.0, 2.5706),
        (0.975, 10.0, 2.2281),
        (0.975, 30.0, 2.0423),
        (0.975, 120.0, 1.9799),
        (0.975, f64::INFINITY, 1.9600),
        // The 68% interval's quantile. (1.0526 is sometimes quoted for df = 10; that is the
        // df = 9 value, i.e. n = 10 values. Checked by numerical integration of the density.)
        (0.84, 9.0, 1.0525),
        (0.84, 10.0, 1.0464),
        (0.95, 1.0, 6.3138),
        (0.95, 4.0, 2.1318),
        (0.995, 2.0, 9.9248),
        (0.75, 3.0, 0.7649),
    ];
    for (p, df, want) in table {
        let got = t_quantile(p, df).unwrap();
        assert!(
            close(got, want, 1e-4),
            "t({p}, df={df}) = {got}, table says {want}"
        );
        // Symmetry about 0.
        assert!(close(t_quantile(1.0 - p, df).unwrap(), -got, 1e-10));
    }
    // Far tail of the Cauchy (df = 1): tan(π(p − 1/2)).
    let p = 0.9995;
    let cauchy = (std::f64::consts::PI * (p - 0.5)).tan();
    assert!(close(t_quantile(p, 1.0).unwrap(), cauchy, 1e-6 * cauchy));
    // df = 2 has a closed form: t = (2p − 1) · √(2 / (4p(1 − p))).
    for p in [0.6f64, 0.9, 0.99, 0.999_99] {
        let exact: f64 = (2.0 * p - 1.0) * (2.0 / (4.0 * p * (1.0 - p))).sqrt();
        assert!(
            close(t_quantile(p, 2.0).unwrap(), exact, 1e-9 * exact.max(1.0)),
            "p = {p}"
        );
    }
    assert_eq!(t_quantile(0.5, 3.0).unwrap(), 0.0);
    // Fractional df lies between its neighbours; large df approaches the normal quantile.
    let (a, b, c) = (
        t_quantile(0.975, 2.0),
        t_quantile(0.975, 2.5),
        t_quantile(0.975, 3.0),
    );
    assert!(a.unwrap() > b.clone().unwrap() && b.unwrap() > c.unwrap());
    assert!(close(t_quantile(0.975, 1e5).unwrap(), 1.959_984, 1e-5));
}

#[test]
fn t_quantile_rejects_bad_arguments() {
    assert_eq!(t_quantile(1.0, 3.0), Err(StatsError::BadProbability(1.0)));
    assert_eq!(t_quantile(0.0, 3.0), Err(StatsError::BadProbability(0.0)));
    assert_eq!(
        t_quantile(0.9, 0.0),
        Err(StatsError::BadDegreesOfFreedom(0.0))
    );
    assert!(t_quantile(f64::NAN, 3.0).is_err());
    assert!(t_quantile(0.9, f64::NAN).is_err());
}

#[test]
fn mean_std_sem_by_hand() {
    let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    // Sum 40 → mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32 → s² = 32/7.
    assert_eq!(mean(&v), Some(5.0));
    let s = (32.0f64 / 7.0).sqrt();
    assert!(close(std(&v).unwrap(), s, 1e-12));
    assert!(close(sem(&v).unwrap(), s / 8f64.sqrt(), 1e-12));
    assert!(close(std(&v).unwrap(), 2.138_089_935, 1e-9));

    // Two values: s = |a − b| / √2.
    assert!(close(std(&[1.0, 4.0]).unwrap(), 3.0 / 2f64.sqrt(), 1e-12));
    // No catastrophic cancellation around a large offset.
    let shifted: Vec<f64> = v.iter().map(|x| x + 1e9).collect();
    assert!(close(std(&shifted).unwrap(), s, 1e-6));
}

#[test]
fn t_interval_by_hand() {
    // 1..5: mean 3, s² = 10/4, sem = √0.5 = 0.707107.
    let v = [1.0, 2.0, 3.0, 4.0, 5.0];
    let sem = 0.5f64.sqrt();
    let (lo, hi) = ci_t(&v, 0.95).unwrap().unwrap();
    // t(0.975, 4) = 2.776445
    assert!(close(lo, 3.0 - 2.776_445 * sem, 1e-5) && close(hi, 3.0 + 2.776_445 * sem, 1e-5));
    let (lo, hi) = ci_t(&v, 0.90).unwrap().unwrap();
    // t(0.95, 4) = 2.131847
    assert!(close(lo, 3.0 - 2.131_847 * sem, 1e-5) && close(hi, 3.0 + 2.131_847 * sem, 1e-5));
    // A 68% band is narrower than a 95% one and still contains the mean.
    let (lo68, hi68) = ci_t(&v, 0.68).unwrap().unwrap();
    assert!(lo < lo68 && lo68 < 3.0 && 3.0 < hi68 && hi68 < hi);
    // Scores in [0, 1] (as from a persona check), by hand: mean 0.5, s = √(1/3)·… computed here.
    let scores = [0.0, 0.5, 1.0, 0.5];
    let s = (0.5f64 / 3.0).sqrt(); // deviations −.5, 0, .5, 0 → 0.5 / 3
    let t = t_quantile(0.84, 3.0).unwrap();
    let (lo, hi) = ci_t(&scores, 0.68).unwrap().unwrap();
    assert!(close(lo, 0.5 - t * s / 2.0, 1e-12) && close(hi, 0.5 + t * s / 2.0, 1e-12));
}

#[test]
fn edge_cases_empty_single_identical() {
    let empty: [f64; 0] = [];
    assert_eq!(mean(&empty), None);
    assert_eq!(std(&empty), None);
    assert_eq!(sem(&empty), None);
    assert_eq!(ci_t(&empty, 0.95), Ok(None));
    assert_eq!(ci_bootstrap(&empty, 0.95, 100, 1), Ok(None));
    assert_eq!(summarize(&empty, Some(0.68)), Ok(None));

    let one = [0.25];
    assert_eq!(mean(&one), Some(0.25));
    assert_eq!(std(&one), None);
    assert_eq!(sem(&one), None);
    assert_eq!(ci_t(&one, 0.95), Ok(None));
    assert_eq!(ci_bootstrap(&one, 0.95, 100, 1), Ok(None));
    assert_eq!(
        summarize(&one, Some(0.68)),
        Ok(Some(Summary {
            n: 1,
            skipped: 0,
            mean: 0.25,
            lo: None,
            hi: None
        }))
    );

    let same = [0.7; 6];
    assert_eq!(std(&same), Some(0.0));
    assert_eq!(ci_t(&same, 0.95), Ok(Some((0.7, 0.7))));
    assert_eq!(ci_bootstrap(&same, 0.95, 200, 3), Ok(Some((0.7, 0.7))));
}

#[test]
fn non_finite_values_are_ignored() {
    assert_eq!(mean(&[1.0, f64::NAN, 3.0]), Some(2.0));
    assert_eq!(mean(&[f64::INFINITY, 2.0, f64::NEG_INFINITY]), Some(2.0));
    assert_eq!(mean(&[f64::NAN, f64::NAN]), None);
    assert_eq!(std(&[1.0, f64::NAN, 4.0]), std(&[1.0, 4.0]));
    assert_eq!(ci_t(&[f64::NAN, 5.0], 0.95), Ok(None)); // one finite value left
    assert_eq!(
        ci_t(&[1.0, f64::NAN, 2.0, 3.0], 0.9),
        ci_t(&[1.0, 2.0, 3.0], 0.9)
    );
    assert_eq!(
        ci_bootstrap(&[1.0, f64::NAN, 2.0], 0.9, 50, 7),
        ci_bootstrap(&[1.0, 2.0], 0.9, 50, 7)
    );
    let s = summarize(&[0.5, f64::NAN, 1.0, f64::INFINITY], None)
        .unwrap()
        .unwrap();
    assert_eq!(
        s,
        Summary {
            n: 2,
            skipped: 2,
            mean: 0.75,
            lo: None,
            hi: None
        }
    );
}

#[test]
fn bad_levels_are_errors_with_a_clear_message() {
    let v = [1.0, 2.0, 3.0];
    for level in [1.5, 0.0, 1.0, 95.0, -0.2, f64::NAN] {
        let same = |l: f64| l == level || (l.is_nan() && level.is_nan());
        assert!(
            matches!(ci_t(&v, level), Err(StatsError::BadLevel(l)) if same(l)),
            "{level}"
        );
        assert!(ci_t(&v, level).is_err());
        assert!(ci_bootstrap(&v, level, 10, 1).is_err());
        assert!(summarize(&v, Some(level)).is_err());
        // Even when there is nothing to summarize the level is checked.
        assert!(summarize(&[], Some(level)).is_err());
    }
    let msg = ci_t(&v, 1.5).unwrap_err().to_string();
    assert_eq!(
        msg,
        "confidence level must be between 0 and 1 (exclusive), got 1.5"
    );
    let msg = ci_bootstrap(&v, 0.9, 0, 1).unwrap_err().to_string();
    assert_eq!(msg, "the bootstrap needs at least one resample, got 0");
}

#[test]
fn bootstrap_is_deterministic_and_sensible() {
    // A skewed sample of 30 scores.
    let v: Vec<f64> = (0..30)
        .map(|i| ((i * 7919) % 31) as f64 / 31.0)
        .map(|x| x * x)
        .collect();
    let a = ci_bootstrap(&v, 0.95, 2000, 42).unwrap().unwrap();
    let b = ci_bootstrap(&v, 0.95, 2000, 42).unwrap().unwrap();
    assert_eq!(a, b, "same seed, same interval (bit for bit)");
    let c = ci_bootstrap(&v, 0.95, 2000, 43).unwrap().unwrap();
    assert_ne!(a, c, "a different seed resamples differently");

    // The interval brackets the mean and is about as wide as the t interval (n = 30).
    let m = mean(&v).unwrap();
    assert!(a.0 < m && m < a.1, "{a:?} vs mean {m}");
    let (tlo, thi) = ci_t(&v, 0.95).unwrap().unwrap();
    let ratio = (a.1 - a.0) / (thi - tlo);
    assert!(
        (0.8..1.1).contains(&ratio),
        "bootstrap/t width ratio {ratio}"
    );
    // Wider at a higher level.
    let narrow = ci_bootstrap(&v, 0.68, 2000, 42).unwrap().unwrap();
    assert!(narrow.0 > a.0 && narrow.1 < a.1);
    // The percentile ends are means of resamples, so they lie within the data's range.
    let (min, max) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    assert!(min <= a.0 && a.1 <= max);
}

#[test]
fn group_by_keeps_first_appearance_order() {
    let records = vec![
        json!({"method": "split", "pair": 3, "score": 0.1}),
        json!({"method": "base", "pair": 1}),
        json!({"pair": 3.0, "score": 0.4}),
        json!({"method": "split", "pair": 2}),
        json!({"method": null}),
        json!([1, 2]),
    ];
    let by_method = group_by(&records, "method");
    let keys: Vec<_> = by_method.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, [json!("split"), json!("base"), json!(null)]);
    // Within a group, records keep their order; missing key, explicit null and non-objects
    // all go under null.
    assert_eq!(by_method[0].1, [&records[0], &records[3]]);
    assert_eq!(by_method[2].1, [&records[2], &records[4], &records[5]]);

    // 3 and 3.0 are the same group; the key shown is the first spelling seen.
    let by_pair = group_by(&records, "pair");
    let sizes: Vec<_> = by_pair.iter().map(|(k, g)| (k.clone(), g.len())).collect();
    assert_eq!(
        sizes,
        [
            (json!(3), 2),
            (json!(1), 1),
            (json!(2), 1),
            (json!(null), 2)
        ]
    );

    assert!(group_by(&[], "x").is_empty());
    // Object-valued keys group by value.
    let objs = vec![
        json!({"k": {"a": 1}}),
        json!({"k": {"a": 1}}),
        json!({"k": {"a": 2}}),
    ];
    assert_eq!(group_by(&objs, "k").len(), 2);
}

#[test]
fn summarize_combines_mean_and_band() {
    let s = summarize(&[1.0, 2.0, 3.0, 4.0, 5.0], Some(0.95))
        .unwrap()
        .unwrap();
    let (lo, hi) = ci_t(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap().unwrap();
    assert_eq!(
        s,
        Summary {
            n: 5,
            skipped: 0,
            mean: 3.0,
            lo: Some(lo),
            hi: Some(hi)
        }
    );
    let s = summarize(&[1.0, 2.0], None).unwrap().unwrap();
    assert_eq!((s.lo, s.hi), (None, None));
}
