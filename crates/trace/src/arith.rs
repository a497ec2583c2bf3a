//! Exact integer arithmetic for taint shares: `a·b/c` with a 256-bit intermediate (a tainted
//! total times an output value overflows 128 bits on real token amounts), and the
//! largest-remainder split TRACING.md prescribes so that shares add up to the total exactly.

/// `(a·b) / c` and `(a·b) % c`, exact. `None` if `c` is zero or the quotient exceeds 128 bits
/// (callers only divide by a sum that bounds one factor, so the quotient always fits).
pub fn mul_div_rem(a: u128, b: u128, c: u128) -> Option<(u128, u128)> {
    if c == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some((p / c, p % c));
    }
    let (hi, lo) = mul_wide(a, b);
    if hi >= c {
        return None;
    }
    // Binary long division of the 256-bit (hi, lo) by c; the remainder stays below c, so a
    // shifted-out top bit means the true value is at least 2^128 > c.
    let mut r = hi;
    let mut q = 0u128;
    for i in (0..128).rev() {
        let carry = r >> 127;
        r = (r << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1;
        }
    }
    Some((q, r))
}

/// `floor(a·b/c)` where the caller guarantees `b <= c` (so the result is at most `a`).
pub fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    mul_div_rem(a, b, c).map_or(0, |(q, _)| q)
}

/// `a·b` against `c·d`, exactly.
pub fn cmp_products(a: u128, b: u128, c: u128, d: u128) -> std::cmp::Ordering {
    mul_wide(a, b).cmp(&mul_wide(c, d))
}

fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const M: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & M);
    let (b1, b0) = (b >> 64, b & M);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & M) + (p10 & M);
    let lo = (p00 & M) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// Splits `total` into shares proportional to `weights` (whose sum is `sum`, with
/// `total <= sum`) by the **largest-remainder method** (TRACING.md, integer rules): each
/// share is `floor(total·w/sum)`; the units left over go one each to the shares with the
/// largest remainders, ties to the lower index. The shares add up to `total` exactly and none
/// exceeds its weight.
pub fn largest_remainder(total: u128, weights: &[u128], sum: u128) -> Vec<u128> {
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    let mut given = 0u128;
    for (i, &w) in weights.iter().enumerate() {
        let (q, r) = mul_div_rem(total, w, sum).unwrap_or((0, 0));
        given += q;
        shares.push(q);
        rems.push((r, i));
    }
    let left = total.saturating_sub(given);
    // Largest remainder first, ties to the lower index.
    rems.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(r, i) in rems
        .iter()
        .take(usize::try_from(left).unwrap_or(usize::MAX))
    {
        if r == 0 {
            break;
        }
        if let Some(s) = shares.get_mut(i) {
            *s += 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_compare_exactly_past_128_bits() {
        use std::cmp::Ordering::*;
        let big = u128::MAX / 3;
        assert_eq!(cmp_products(big, 100, big, 100), Equal);
        assert_eq!(cmp_products(big, 75, big - 1, 75), Greater);
        // 2^127·2 = 2^128 against (2^128 − 1)·1.
        assert_eq!(cmp_products(1 << 127, 2, u128::MAX, 1), Greater);
        assert_eq!(cmp_products(0, u128::MAX, 1, 0), Equal);
        assert_eq!(cmp_products(3, 4, 2, 7), Less);
    }
    use proptest::prelude::*;

    #[test]
    fn wide_division_matches_a_split_by_hand() {
        // (2^127 · 6) / 8 = 3 · 2^125: the product needs the 256-bit path.
        assert_eq!(mul_div_rem(1 << 127, 6, 8), Some((3 << 125, 0)));
        assert_eq!(mul_div_rem(1 << 127, 7, 8), Some((7 << 124, 0)));
        assert_eq!(
            mul_div_rem(u128::MAX, u128::MAX, u128::MAX),
            Some((u128::MAX, 0))
        );
        assert_eq!(mul_div_rem(u128::MAX, 3, 2), None);
        assert_eq!(mul_div_rem(5, 5, 0), None);
    }

    #[test]
    fn largest_remainder_ties_go_to_the_lower_index() {
        // TRACING.md's worked example: 5 tainted over shares 2, 7, 1 of 10.
        assert_eq!(largest_remainder(5, &[2, 7, 1], 10), vec![1, 4, 0]);
        assert_eq!(largest_remainder(1, &[1, 1], 2), vec![1, 0]);
    }

    proptest! {
        #[test]
        fn wide_division_agrees_with_narrow(a in any::<u64>(), b in any::<u64>(), c in 1u128..) {
            let p = u128::from(a) * u128::from(b);
            prop_assert_eq!(mul_div_rem(u128::from(a), u128::from(b), c), Some((p / c, p % c)));
        }

        #[test]
        fn wide_division_inverts_multiplication(a in any::<u128>(), b in any::<u128>(), c in 1u128..) {
            // q·c + r == a·b with r < c, checked in 256 bits.
            if let Some((q, r)) = mul_div_rem(a, b, c) {
                prop_assert!(r < c);
                let (hi, lo) = mul_wide(q, c);
                let (lo, carry) = lo.overflowing_add(r);
                prop_assert_eq!((hi + u128::from(carry), lo), mul_wide(a, b));
            } else {
                prop_assert!(mul_wide(a, b).0 >= c);
            }
        }

        #[test]
        fn largest_remainder_conserves(
            weights in proptest::collection::vec(0u128..1_000_000, 1..8),
            frac in 0u128..=1000,
        ) {
            let sum: u128 = weights.iter().sum();
            let total = sum * frac / 1000;
            let shares = largest_remainder(total, &weights, sum);
            prop_assert_eq!(shares.iter().sum::<u128>(), if sum == 0 { 0 } else { total });
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!(s <= w);
            }
        }
    }
}
