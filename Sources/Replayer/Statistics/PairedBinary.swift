/// The 2x2 table of paired binary outcomes: for each item, was A right, was B right.
public struct PairedCounts: Codable, Sendable, Equatable {
    /// Items both got right.
    public var both: Int
    /// Items only A got right (discordant).
    public var onlyA: Int
    /// Items only B got right (discordant).
    public var onlyB: Int
    /// Items neither got right.
    public var neither: Int

    public init(both: Int, onlyA: Int, onlyB: Int, neither: Int) {
        self.both = both
        self.onlyA = onlyA
        self.onlyB = onlyB
        self.neither = neither
    }

    /// Counts the table from per-item outcomes (`a[i]`: A was right on item i). Same length needed.
    public init(_ a: [Bool], _ b: [Bool]) throws {
        guard a.count == b.count else {
            throw StatisticsError.invalidArgument("paired outcomes need the same items on both sides: \(a.count) vs \(b.count)")
        }
        var t = PairedCounts(both: 0, onlyA: 0, onlyB: 0, neither: 0)
        for (x, y) in zip(a, b) {
            switch (x, y) {
            case (true, true): t.both += 1
            case (true, false): t.onlyA += 1
            case (false, true): t.onlyB += 1
            case (false, false): t.neither += 1
            }
        }
        self = t
    }

    public var total: Int { both + onlyA + onlyB + neither }
    public var discordant: Int { onlyA + onlyB }
}

/// How `mcNemar` computes its p-value.
public enum McNemarMethod: String, Codable, Sendable {
    /// Exact below `Statistics.mcNemarExactBelow` (25) discordant pairs, chi-square from there on.
    case auto
    /// The exact binomial test of the discordant pairs.
    case exact
    /// Chi-square with one degree of freedom and the continuity correction.
    case chiSquare
}

extension Statistics {
    /// Below this many discordant pairs McNemar's test is exact (`McNemarMethod.auto`).
    ///
    /// Why 25: it is the usual guidance (statsmodels' `mcnemar` docs, after Rosner) for when the
    /// chi-square approximation is adequate, and it is what published McNemar p-values use.
    /// Measured with scipy 1.17 over every split of b + c discordant pairs: from 25 to 2,000 the
    /// corrected chi-square p-value is within 0.0022 of the exact one (the worst at b + c = 25),
    /// below 25 up to 0.011 (b + c = 5) and 0.02 (b + c = 2). In the far tail the approximation
    /// is relatively poor (b = 0, c = 25: exact 6.0e-8, chi-square 1.6e-6), so ask for
    /// `.exact` when tiny p-values are compared; the exact test is valid at any size.
    public static let mcNemarExactBelow = 25

    /// McNemar's test of "A and B are right equally often" on paired binary outcomes (the same
    /// test items scored by two models), two-sided. Only the discordant pairs matter:
    /// `b` = only A right, `c` = only B right, `n = b + c`.
    ///
    /// - exact (`.exact`, or `.auto` below `mcNemarExactBelow` = 25 discordant pairs):
    ///   `p = binomialTest(min(b, c), n, 1/2)` (= `min(1, 2 P(Bin(n, 1/2) <= min(b, c)))`);
    ///   statistic `min(b, c)`; `n = 0` gives p = 1 whatever the method.
    /// - chi-square (`.chiSquare`, or `.auto` from 25 on): `X^2 = max(0, |b - c| - 1)^2 / n`
    ///   (Edwards' continuity correction), p from chi-square with 1 degree of freedom; statistic `X^2`.
    ///
    /// Assumes the items are independent. statsmodels: `mcnemar([[both, b], [c, neither]],
    /// exact=n < 25, correction=True)`; scipy: `binomtest(min(b, c), n)` /
    /// `chi2.sf((abs(b - c) - 1)**2 / n, 1)` (equal unless b = c, where the max(0, .) gives p = 1).
    public static func mcNemar(_ table: PairedCounts, method: McNemarMethod = .auto) throws -> TestResult {
        guard table.onlyA >= 0, table.onlyB >= 0 else {
            throw StatisticsError.invalidArgument("McNemar's test needs non-negative counts, got \(table.onlyA) and \(table.onlyB)")
        }
        let b = table.onlyA, c = table.onlyB, n = b + c
        let exact: Bool
        switch method {
        case .auto: exact = n < mcNemarExactBelow
        case .exact: exact = true
        case .chiSquare: exact = false
        }
        if exact || n == 0 {
            let p = n == 0 ? 1 : try binomialTest(successes: min(b, c), trials: n).pValue
            return TestResult(statistic: Double(min(b, c)), pValue: p, method: .mcNemarExact)
        }
        let excess = max(0, Double(abs(b - c)) - 1)
        let x2 = excess * excess / Double(n)
        return TestResult(statistic: x2, pValue: ChiSquared(degreesOfFreedom: 1).sf(x2), method: .mcNemarChiSquare)
    }

    /// `mcNemar` on per-item outcomes (`a[i]`, `b[i]`: was A, B right on item i).
    public static func mcNemar(_ a: [Bool], _ b: [Bool], method: McNemarMethod = .auto) throws -> TestResult {
        try mcNemar(PairedCounts(a, b), method: method)
    }

    /// The exact two-sided binomial test of "the success probability is `probability`" (default
    /// 1/2) after `successes` out of `trials`: p is the total probability of the outcomes no more
    /// likely than the observed one, `sum P(K = i)` over `P(K = i) <= P(K = k) (1 + 1e-7)` (the
    /// relative slack absorbs rounding so a symmetric outcome counts). The outcomes form a
    /// lower and an upper tail, each summed through the incomplete beta function. Statistic:
    /// `k / n`. scipy: `stats.binomtest(k, n, p)` (the same rule and slack).
    public static func binomialTest(successes k: Int, trials n: Int, probability p: Double = 0.5) throws -> TestResult {
        guard n >= 1, k >= 0, k <= n else {
            throw StatisticsError.invalidArgument("binomial test needs 0 <= successes <= trials and trials >= 1, got \(k) of \(n)")
        }
        guard p >= 0, p <= 1 else { throw StatisticsError.invalidArgument("binomial test needs 0 <= probability <= 1, got \(p)") }
        let dist = Binomial(trials: n, p: p)
        let bound = dist.pmf(k) * (1 + 1e-7)
        let mean = p * Double(n)
        let pValue: Double
        if Double(k) == mean {
            pValue = 1
        } else if Double(k) < mean {
            // Upper tail: from the first outcome above the mean whose probability is within the bound.
            var j = Int(mean.rounded(.up))
            while j <= n && dist.pmf(j) > bound { j += 1 }
            pValue = dist.cdf(k) + dist.sf(j - 1)
        } else {
            // Lower tail: up to the last outcome below the mean whose probability is within the bound.
            var j = Int(mean.rounded(.down))
            while j >= 0 && dist.pmf(j) > bound { j -= 1 }
            pValue = dist.cdf(j) + dist.sf(k - 1)
        }
        return TestResult(statistic: Double(k) / Double(n), pValue: min(1, pValue), method: .binomialExact)
    }
}
