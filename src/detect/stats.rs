//! Small, exact statistics the detectors share: median, MAD, quantiles, and the
//! binomial upper tail. Inputs are short slices (a baseline window), so sorting a
//! copy is cheaper and simpler than anything incremental.

/// Median of `xs` (None when empty). NaNs must not be present.
pub fn median(xs: &[f64]) -> Option<f64> {
    quantile(xs, 0.5)
}

/// Linear-interpolated quantile `q` in [0, 1] of `xs` (None when empty), by
/// selection rather than a full sort (detectors call this once per run).
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, lo_v, upper) = v.select_nth_unstable_by(lo, f64::total_cmp);
    let lo_v = *lo_v;
    if pos == lo as f64 {
        return Some(lo_v);
    }
    let hi_v = upper.iter().copied().fold(f64::INFINITY, f64::min);
    Some(lo_v + (hi_v - lo_v) * (pos - lo as f64))
}

/// Median and robust standard deviation (1.4826 × median absolute deviation),
/// the sd never below `min_sd` so a perfectly regular series does not make every
/// small wobble infinitely surprising.
pub fn robust_location(xs: &[f64], min_sd: f64) -> Option<(f64, f64)> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    let mad = median(&dev)?;
    Some((m, (1.4826 * mad).max(min_sd)))
}

/// P(X >= k) for X ~ Binomial(n, p), summed exactly from the pmf recurrence.
pub fn binomial_sf(k: u32, n: u32, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let q = 1.0 - p;
    // log pmf(0) = n ln q; walk up to pmf(k) and sum the tail from there.
    let mut log_pmf = n as f64 * q.ln();
    for i in 0..k {
        log_pmf += ((n - i) as f64 / (i + 1) as f64).ln() + (p / q).ln();
    }
    let mut pmf = log_pmf.exp();
    let mut sum = 0.0;
    for i in k..=n {
        sum += pmf;
        if i < n {
            pmf *= (n - i) as f64 / (i + 1) as f64 * (p / q);
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quantiles() {
        let cases: [(&[f64], f64, Option<f64>); 5] = [
            (&[], 0.5, None),
            (&[3.0], 0.5, Some(3.0)),
            (&[1.0, 3.0, 2.0], 0.5, Some(2.0)),
            (&[1.0, 2.0, 3.0, 4.0], 0.5, Some(2.5)),
            (&[0.0, 10.0], 0.9, Some(9.0)),
        ];
        for (xs, q, want) in cases {
            assert_eq!(quantile(xs, q), want, "{xs:?} q={q}");
        }
    }

    #[test]
    fn robust_location_ignores_one_outlier() {
        let (m, sd) = robust_location(&[10.0, 11.0, 9.0, 10.0, 1000.0], 0.0).unwrap();
        assert_eq!(m, 10.0);
        assert!((sd - 1.4826).abs() < 1e-9);
        let (_, sd) = robust_location(&[5.0, 5.0, 5.0], 0.1).unwrap();
        assert_eq!(sd, 0.1);
    }

    #[test]
    fn binomial_tail_matches_closed_forms() {
        // P(X >= 1) = 1 - q^n
        let p = binomial_sf(1, 20, 0.02);
        assert!((p - (1.0 - 0.98f64.powi(20))).abs() < 1e-12);
        // P(X >= n) = p^n
        let p = binomial_sf(3, 3, 0.5);
        assert!((p - 0.125).abs() < 1e-12);
        // Symmetry at p = 0.5: P(X >= 6 | 10) = 386/1024
        let p = binomial_sf(6, 10, 0.5);
        assert!((p - 386.0 / 1024.0).abs() < 1e-12);
        assert_eq!(binomial_sf(0, 5, 0.1), 1.0);
        assert_eq!(binomial_sf(6, 5, 0.1), 0.0);
    }
}
