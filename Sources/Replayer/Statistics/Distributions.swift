import Foundation  // libm: erfc, exp, log, lgamma

/// The standard normal distribution N(0, 1).
public enum Normal {
    /// `Phi(z) = erfc(-z / sqrt 2) / 2`.
    public static func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// `1 - Phi(z) = erfc(z / sqrt 2) / 2`, precise in the upper tail.
    public static func sf(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// The quantile `Phi^-1(p)`: Wichura's algorithm AS 241 (PPND16, Applied Statistics 37, 1988),
    /// relative accuracy about 1e-16. `-inf` at 0, `+inf` at 1, NaN outside [0, 1].
    public static func quantile(_ p: Double) -> Double {
        if p.isNaN || p < 0 || p > 1 { return .nan }
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        let q = p - 0.5
        if abs(q) <= 0.425 {
            let r = 0.180625 - q * q
            return q * poly([3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125,
                             45921.953931549871457, 67265.770927008700853, 33430.575583588128105, 2509.0809287301226727], r)
                / poly([1, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077,
                        21213.794301586595867, 39307.89580009271061, 28729.085735721942674, 5226.495278852545925], r)
        }
        var r = q < 0 ? p : 1 - p
        r = (-log(r)).squareRoot()
        let value: Double
        if r <= 5 {
            r -= 1.6
            value = poly([1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504,
                          1.27045825245236838258, 0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4], r)
                / poly([1, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455,
                        0.14810397642748007459, 0.0151986665636164571966, 5.475938084995344946e-4, 1.05075007164441684324e-9], r)
        } else {
            r -= 5
            value = poly([6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123,
                          0.026532189526576123093, 0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7], r)
                / poly([1, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525,
                        7.868691311456132591e-4, 1.8463183175100546818e-5, 1.4215117583164458887e-7, 2.04426310338993978564e-15], r)
        }
        return q < 0 ? -value : value
    }

    /// `c[0] + c[1] r + c[2] r^2 + ...` (Horner).
    static func poly(_ c: [Double], _ r: Double) -> Double { c.reversed().reduce(0) { $0 * r + $1 } }
}

/// Student's t distribution with `degreesOfFreedom` (any positive real, as Welch's test needs;
/// `+inf` is the standard normal).
public struct StudentT: Sendable {
    public var degreesOfFreedom: Double

    public init(degreesOfFreedom: Double) {
        precondition(degreesOfFreedom > 0, "the t distribution needs degrees of freedom > 0, got \(degreesOfFreedom)")
        self.degreesOfFreedom = degreesOfFreedom
    }

    /// `P(T > |t|)`: `I_x(v/2, 1/2) / 2` with `x = v / (v + t^2)`, `1 - x = t^2 / (v + t^2)` passed
    /// exactly so neither tail cancels.
    func tail(_ t: Double) -> Double {
        let v = degreesOfFreedom
        if v == .infinity { return Normal.sf(abs(t)) }
        let t2 = t * t
        return 0.5 * SpecialFunctions.incompleteBeta(a: v / 2, b: 0.5, x: v / (v + t2), y: t2 / (v + t2)).lower
    }

    public func cdf(_ t: Double) -> Double { t.isNaN ? .nan : t > 0 ? 1 - tail(t) : tail(t) }
    public func sf(_ t: Double) -> Double { t.isNaN ? .nan : t > 0 ? tail(t) : 1 - tail(t) }

    /// The quantile `t_p`: `P(T <= t_p) = p`. For `p > 1/2`, `t = sqrt(v (1 - x) / x)` with
    /// `x = I^-1_{2(1-p)}(v/2, 1/2)` (and the mirror image below 1/2).
    public func quantile(_ p: Double) -> Double {
        if p.isNaN || p < 0 || p > 1 { return .nan }
        if p == 0.5 { return 0 }
        let v = degreesOfFreedom
        if v == .infinity { return Normal.quantile(p) }
        let tailP = 2 * min(p, 1 - p)
        let x = SpecialFunctions.inverseIncompleteBeta(a: v / 2, b: 0.5, p: tailP)
        let t = x == 0 ? Double.infinity : (v * (1 - x) / x).squareRoot()
        return p > 0.5 ? t : -t
    }
}

/// The F distribution with `d1` (numerator) and `d2` (denominator) degrees of freedom.
public struct FDistribution: Sendable {
    public var d1: Double
    public var d2: Double

    public init(d1: Double, d2: Double) {
        precondition(d1 > 0 && d2 > 0, "the F distribution needs degrees of freedom > 0 (d1 = \(d1), d2 = \(d2))")
        self.d1 = d1
        self.d2 = d2
    }

    /// `P(F <= f) = I_x(d1/2, d2/2)`, `x = d1 f / (d1 f + d2)`.
    public func cdf(_ f: Double) -> Double {
        if f.isNaN { return .nan }
        if f <= 0 { return 0 }
        if f == .infinity { return 1 }
        return SpecialFunctions.incompleteBeta(a: d1 / 2, b: d2 / 2, x: d1 * f / (d1 * f + d2), y: d2 / (d1 * f + d2)).lower
    }

    /// `P(F > f) = 1 - I_x(d1/2, d2/2)`, computed as the upper tail directly.
    public func sf(_ f: Double) -> Double {
        if f.isNaN { return .nan }
        if f <= 0 { return 1 }
        if f == .infinity { return 0 }
        return SpecialFunctions.incompleteBeta(a: d1 / 2, b: d2 / 2, x: d1 * f / (d1 * f + d2), y: d2 / (d1 * f + d2)).upper
    }
}

/// The chi-square distribution with `k` degrees of freedom: `P(X > x) = Q(k/2, x/2)`.
public struct ChiSquared: Sendable {
    public var degreesOfFreedom: Double

    public init(degreesOfFreedom: Double) {
        precondition(degreesOfFreedom > 0, "the chi-square distribution needs degrees of freedom > 0, got \(degreesOfFreedom)")
        self.degreesOfFreedom = degreesOfFreedom
    }

    public func cdf(_ x: Double) -> Double { SpecialFunctions.incompleteGamma(a: degreesOfFreedom / 2, x: max(0, x) / 2).lower }
    public func sf(_ x: Double) -> Double { SpecialFunctions.incompleteGamma(a: degreesOfFreedom / 2, x: max(0, x) / 2).upper }
}

/// The binomial distribution: `trials` independent trials with success probability `p`.
public struct Binomial: Sendable {
    public var trials: Int
    public var p: Double

    public init(trials: Int, p: Double) {
        precondition(trials >= 0 && p >= 0 && p <= 1, "the binomial distribution needs trials >= 0 and 0 <= p <= 1 (trials = \(trials), p = \(p))")
        self.trials = trials
        self.p = p
    }

    /// `log P(K = k) = log C(n, k) + k log p + (n - k) log(1 - p)` (lgamma for the coefficient).
    public func logPMF(_ k: Int) -> Double {
        guard k >= 0, k <= trials else { return -.infinity }
        let n = Double(trials), kk = Double(k)
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == trials ? 0 : -.infinity }
        return lgamma(n + 1) - lgamma(kk + 1) - lgamma(n - kk + 1) + kk * log(p) + (n - kk) * log1p(-p)
    }

    public func pmf(_ k: Int) -> Double { exp(logPMF(k)) }

    /// `P(K <= k) = I_{1-p}(n - k, k + 1)`, 1 for `k >= n`.
    public func cdf(_ k: Int) -> Double {
        if k < 0 { return 0 }
        if k >= trials { return 1 }
        return SpecialFunctions.incompleteBeta(a: Double(trials - k), b: Double(k + 1), x: 1 - p, y: p).lower
    }

    /// `P(K > k) = I_p(k + 1, n - k)`, computed as a tail directly.
    public func sf(_ k: Int) -> Double {
        if k < 0 { return 1 }
        if k >= trials { return 0 }
        return SpecialFunctions.incompleteBeta(a: Double(k + 1), b: Double(trials - k), x: p, y: 1 - p).lower
    }
}
