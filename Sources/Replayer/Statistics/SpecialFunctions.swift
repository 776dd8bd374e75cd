import Foundation  // libm: lgamma, exp, log, log1p, erfc, pow

/// Special functions behind the distributions: the regularized incomplete beta function and its
/// inverse, and the regularized incomplete gamma function. Double precision; the tests check them
/// against scipy.special (`betainc`, `betaincinv`, `gammaincc`) to about 1e-13 relative.
public enum SpecialFunctions {
    /// `log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b)` for `a, b > 0`.
    public static func logBeta(_ a: Double, _ b: Double) -> Double {
        lgamma(a) + lgamma(b) - lgamma(a + b)
    }

    /// The regularized incomplete beta function and its complement,
    /// `I_x(a, b) = (1 / B(a, b)) * integral_0^x t^(a-1) (1-t)^(b-1) dt` and `1 - I_x(a, b)`,
    /// for `a, b > 0` and `0 <= x <= 1`. `y` is `1 - x` when the caller knows it more precisely
    /// than `1 - x` would round (as the t distribution does for `x` near 1); both results keep full
    /// relative precision, so a tiny tail is never `1 - (something near 1)`.
    ///
    /// Method: the continued fraction of Numerical Recipes 6.4 (modified Lentz), evaluated for
    /// `I_x(a, b)` when `x < (a + 1) / (a + b + 2)` (where it converges fast) and for
    /// `I_y(b, a) = 1 - I_x(a, b)` otherwise. Relative accuracy about 1e-14, less for a or b
    /// beyond ~1e5 (through `lgamma`).
    public static func incompleteBeta(a: Double, b: Double, x: Double, y: Double? = nil) -> (lower: Double, upper: Double) {
        precondition(a > 0 && b > 0, "incompleteBeta needs a, b > 0 (a = \(a), b = \(b))")
        let y = y ?? (1 - x)
        if x.isNaN || y.isNaN { return (.nan, .nan) }
        if x <= 0 { return (0, 1) }
        if y <= 0 { return (1, 0) }
        // x^a y^b / B(a, b), in logs.
        let front = exp(a * log(x) + b * log(y) - logBeta(a, b))
        if x < (a + 1) / (a + b + 2) {
            let lower = front * continuedFraction(a: a, b: b, x: x, y: y) / a
            return (lower, 1 - lower)
        } else {
            let upper = front * continuedFraction(a: b, b: a, x: y, y: x) / b
            return (1 - upper, upper)
        }
    }

    /// The continued fraction for `I_x(a, b)` (Numerical Recipes `betacf`), modified Lentz.
    static func continuedFraction(a: Double, b: Double, x: Double, y: Double) -> Double {
        let tiny = 1e-300, eps = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < eps { return h }
        }
        return h  // not reached for the arguments the distributions pass (converges in O(sqrt(max(a, b))) steps)
    }

    /// The inverse of `I_x(a, b)` in `x`: the `x` in [0, 1] with `I_x(a, b) = p`.
    ///
    /// Method: the initial guess of Numerical Recipes 6.4 (`invbetai`), then Halley steps on
    /// `f(x) = I_x(a, b) - p` (`f' = x^(a-1) (1-x)^(b-1) / B(a, b)`, `f''/f' = (a-1)/x - (b-1)/(1-x)`)
    /// kept inside a bracket that shrinks with every evaluation (bisection when a step leaves it),
    /// until the step is below 1e-15 relative. For `p > 1/2` the complement `1 - I^-1_{1-p}(b, a)` is
    /// solved instead, so small tail probabilities keep their relative precision.
    public static func inverseIncompleteBeta(a: Double, b: Double, p: Double) -> Double {
        precondition(a > 0 && b > 0, "inverseIncompleteBeta needs a, b > 0 (a = \(a), b = \(b))")
        if p.isNaN { return .nan }
        if p <= 0 { return 0 }
        if p >= 1 { return 1 }
        if p > 0.5 { return 1 - inverseIncompleteBeta(a: b, b: a, p: 1 - p) }

        var x = initialGuess(a: a, b: b, p: p)
        var lo = 0.0, hi = 1.0
        let logB = logBeta(a, b)
        for _ in 0..<200 {
            let f = incompleteBeta(a: a, b: b, x: x).lower - p
            if f == 0 { return x }
            if f < 0 { lo = x } else { hi = x }
            let density = exp((a - 1) * log(x) + (b - 1) * log1p(-x) - logB)
            var next = x
            if density.isFinite, density > 0 {
                let newton = f / density
                let curvature = (a - 1) / x - (b - 1) / (1 - x)
                let halley = newton / (1 - 0.5 * min(1, max(-1, newton * curvature)))
                next = x - halley
            }
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }  // left the bracket: bisect
            let step = abs(next - x)
            x = next
            if step <= 1e-15 * x || hi - lo <= 4 * x.ulp { break }
        }
        return x
    }

    /// A starting point for `inverseIncompleteBeta` (Numerical Recipes 6.4): a normal
    /// approximation for `a, b >= 1`, otherwise the leading terms of the two tails.
    static func initialGuess(a: Double, b: Double, p: Double) -> Double {
        var x: Double
        if a >= 1, b >= 1 {
            let pp = p < 0.5 ? p : 1 - p
            let t = (-2 * log(pp)).squareRoot()
            var z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t
            if p < 0.5 { z = -z }
            let al = (z * z - 3) / 6
            let h = 2 / (1 / (2 * a - 1) + 1 / (2 * b - 1))
            let w = z * (al + h).squareRoot() / h - (1 / (2 * b - 1) - 1 / (2 * a - 1)) * (al + 5 / 6 - 2 / (3 * h))
            x = a / (a + b * exp(2 * w))
        } else {
            let lna = log(a / (a + b)), lnb = log(b / (a + b))
            let t = exp(a * lna) / a, u = exp(b * lnb) / b, w = t + u
            x = p < t / w ? pow(a * w * p, 1 / a) : 1 - pow(b * w * (1 - p), 1 / b)
        }
        if !(x > 0 && x < 1) { x = 0.5 }
        return x
    }

    /// The regularized upper incomplete gamma function
    /// `Q(a, x) = (1 / Gamma(a)) * integral_x^inf t^(a-1) e^-t dt` and `P(a, x) = 1 - Q(a, x)`,
    /// for `a > 0`, `x >= 0`. The series for `P` when `x < a + 1`, the continued fraction for `Q`
    /// otherwise (Numerical Recipes 6.2), each computed directly so a small tail keeps its precision.
    public static func incompleteGamma(a: Double, x: Double) -> (lower: Double, upper: Double) {
        precondition(a > 0, "incompleteGamma needs a > 0 (a = \(a))")
        if x.isNaN { return (.nan, .nan) }
        if x <= 0 { return (0, 1) }
        if x == .infinity { return (1, 0) }
        let front = exp(-x + a * log(x) - lgamma(a))
        if x < a + 1 {
            var ap = a, term = 1 / a, sum = term
            for _ in 0..<100_000 {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            let lower = sum * front
            return (lower, 1 - lower)
        }
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1...100_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < tiny { d = tiny }
            c = b + an / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        let upper = front * h
        return (1 - upper, upper)
    }
}
