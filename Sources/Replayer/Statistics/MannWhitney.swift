import Foundation  // libm: lgamma

/// How `mannWhitneyU` computes its p-value.
public enum MannWhitneyMethod: String, Codable, Sendable {
    /// scipy's rule (`method="auto"`): exact when there are no ties and one sample has at most 8
    /// values, the normal approximation otherwise.
    case auto
    /// The exact null distribution of U (ignores ties: use only without them).
    case exact
    /// The normal approximation with tie and continuity corrections.
    case normal
}

extension Statistics {
    /// The Mann-Whitney U test (Wilcoxon rank-sum), two-sided, of "a and b come from the same
    /// distribution" against "one is stochastically larger". Rank-based: no normality assumed,
    /// only independent observations. Needs at least one value on each side.
    ///
    /// - Statistic: `U_a = R_a - n_a (n_a + 1) / 2`, `R_a` the sum of `a`'s ranks in the pooled
    ///   sample (ties get the average of their ranks); `U_b = n_a n_b - U_a`. The result's
    ///   `statistic` is `U_a` (scipy's `statistic`).
    /// - Exact: `p = 2 P(U >= max(U_a, U_b))` under the null distribution of U, whose counts are the
    ///   coefficients of the Gaussian binomial `[n_a + n_b choose n_a]_q`.
    /// - Normal: `z = (max(U_a, U_b) - n_a n_b / 2 - 1/2) / sigma`,
    ///   `sigma^2 = n_a n_b / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))` over tie groups of size t,
    ///   `p = 2 (1 - Phi(z))`.
    /// - `method` (default `.auto`) chooses as scipy's `mannwhitneyu(method="auto")` does.
    ///
    /// p is clipped to 1. scipy: `stats.mannwhitneyu(a, b)`.
    public static func mannWhitneyU(_ a: [Double], _ b: [Double], method: MannWhitneyMethod = .auto) throws -> TestResult {
        try check(a, "Mann-Whitney U (sample a)", needed: 1)
        try check(b, "Mann-Whitney U (sample b)", needed: 1)
        let (ranks, ties) = averageRanks(a + b)
        let na = a.count, nb = b.count
        let ra = compensatedSum(Array(ranks[..<na]))
        let ua = ra - Double(na * (na + 1)) / 2
        let ub = Double(na * nb) - ua
        let u = max(ua, ub)
        let exact: Bool
        switch method {
        case .auto: exact = ties.isEmpty && min(na, nb) <= 8
        case .exact: exact = true
        case .normal: exact = false
        }
        if exact {
            // The counts are Doubles: C(n_a + n_b, n_a) must stay finite.
            guard lgamma(Double(na + nb + 1)) - lgamma(Double(na + 1)) - lgamma(Double(nb + 1)) < 700 else {
                throw StatisticsError.invalidArgument("the exact Mann-Whitney distribution of \(na) and \(nb) values overflows; use the normal approximation")
            }
            let p = 2 * uDistributionCDF(Int((Double(na * nb) - u).rounded()), na, nb)
            return TestResult(statistic: ua, pValue: min(1, p), method: .mannWhitneyExact)
        }
        let n = Double(na + nb)
        let tieTerm = ties.reduce(0.0) { $0 + Double($1) * Double($1) * Double($1) - Double($1) }
        let sigma = (Double(na) * Double(nb) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))).squareRoot()
        let z = (u - Double(na) * Double(nb) / 2 - 0.5) / sigma  // sigma = 0 (all tied): z = -inf, p = 1
        return TestResult(statistic: ua, pValue: min(1, 2 * Normal.sf(z)), method: .mannWhitneyNormal)
    }

    /// Ranks 1...n of `xs` with ties averaged, and the sizes of the tie groups (those of size > 1).
    static func averageRanks(_ xs: [Double]) -> (ranks: [Double], ties: [Int]) {
        let order = xs.indices.sorted { xs[$0] < xs[$1] }
        var ranks = [Double](repeating: 0, count: xs.count), ties: [Int] = []
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
            let rank = Double(i + j + 2) / 2  // the average of ranks i+1 ... j+1
            for k in i...j { ranks[order[k]] = rank }
            if j > i { ties.append(j - i + 1) }
            i = j + 1
        }
        return (ranks, ties)
    }

    /// `P(U <= k)` under the null for samples of sizes `m` and `n` without ties. The number of
    /// orderings with `U = u` is the coefficient of `q^u` in the Gaussian binomial
    /// `[m + n choose m]_q = prod_{i=1}^{s} (1 - q^(l+i)) / (1 - q^i)`, `s = min(m, n)`,
    /// `l = max(m, n)`, built by multiplying and dividing those factors truncated at degree k
    /// (O(s k) operations; coefficients as Doubles, exact up to 2^53, relative error ~ k * 1e-16
    /// beyond), divided by `C(m + n, m)`.
    static func uDistributionCDF(_ k: Int, _ m: Int, _ n: Int) -> Double {
        if k < 0 { return 0 }
        if k >= m * n { return 1 }
        let s = min(m, n), l = max(m, n)
        var c = [Double](repeating: 0, count: k + 1)
        c[0] = 1
        var total = 1.0
        for i in 1...s {
            let shift = l + i
            if shift <= k { for u in stride(from: k, through: shift, by: -1) { c[u] -= c[u - shift] } }  // * (1 - q^(l+i))
            if i <= k { for u in i...k { c[u] += c[u - i] } }  // / (1 - q^i)
            total = total * Double(l + i) / Double(i)
        }
        return min(1, compensatedSum(c) / total)
    }
}
