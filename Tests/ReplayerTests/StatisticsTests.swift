import Foundation
import XCTest
@testable import Replayer

/// Descriptive statistics, intervals and tests against scipy 1.17.1 / numpy 2.4 (system python3).
/// Each expected value is the call in the comment beside it, printed with repr().
final class StatisticsTests: XCTestCase {
    func assertClose(_ actual: Double, _ expected: Double, _ tol: Double = 1e-12, _ what: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(abs(expected), 1e-300)
        XCTAssert(abs(actual - expected) <= tol * scale, "\(what): \(actual) vs scipy \(expected)", file: file, line: line)
    }

    let xs = [2.5, 3.1, 4.7, 1.2, 9.8, 5.5, 3.3]
    // Accuracies of two sides over seeds (the shape of `explain --seeds`).
    let a = [0.912, 0.905, 0.931, 0.899, 0.921, 0.915, 0.908, 0.925]
    let b = [0.874, 0.902, 0.861, 0.893, 0.880, 0.915]

    func testDescriptive() throws {
        // np.mean(xs) = 4.3, np.std(xs, ddof=1), np.var(xs, ddof=1)
        assertClose(try Statistics.mean(xs), 4.3, 1e-15, "mean")
        assertClose(try Statistics.standardDeviation(xs), 2.802974610421341, 1e-14, "std")
        assertClose(try Statistics.variance(xs), 7.8566666666666665, 1e-14, "var")
        // np.quantile(xs, [0, 0.1, 0.25, 0.5, 0.9, 1]) (method="linear", type 7)
        let q = try Statistics.quantiles(xs, [0, 0.1, 0.25, 0.5, 0.9, 1])
        for (got, want) in zip(q, [1.2, 1.98, 2.8, 3.3, 7.2200000000000015, 9.8]) { assertClose(got, want, 1e-14, "quantile") }
        // np.median([4.0, 1.0, 3.0, 2.0]) = 2.5
        XCTAssertEqual(try Statistics.median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(try Statistics.median([7]), 7)
        // Cancellation: a large offset does not ruin the variance (two-pass, compensated).
        assertClose(try Statistics.variance(xs.map { $0 + 1e9 }), 7.8566666666666665, 1e-6, "var with offset")
    }

    func testBadInputIsAnErrorNamingWhatIsWrong() {
        XCTAssertThrowsError(try Statistics.mean([])) { XCTAssertEqual($0 as? StatisticsError, .tooFewValues(what: "mean", needed: 1, got: 0)) }
        XCTAssertThrowsError(try Statistics.standardDeviation([1])) {
            XCTAssertEqual("\($0)", "sample variance needs at least 2 values, got 1")
        }
        XCTAssertThrowsError(try Statistics.mean([1, .nan, 2])) { XCTAssertEqual($0 as? StatisticsError, .nonFinite(what: "mean", index: 1)) }
        XCTAssertThrowsError(try Statistics.quantile(xs, 1.5))
        XCTAssertThrowsError(try Statistics.meanInterval(xs, level: 95))
        XCTAssertThrowsError(try Statistics.welch([1], b))
        XCTAssertThrowsError(try Statistics.levene([a]))
        XCTAssertThrowsError(try Statistics.mcNemar([true], [true, false]))
        XCTAssertThrowsError(try Statistics.binomialTest(successes: 5, trials: 4))
        XCTAssertThrowsError(try Statistics.bootstrapMeanDifference(a, [], seed: 1))
    }

    func testMeanInterval() throws {
        // stats.t.interval(0.95, 6, np.mean(xs), stats.sem(xs)); the same at 0.9
        let i95 = try Statistics.meanInterval(xs)
        assertClose(i95.low, 1.7076808489083954, 1e-12, "low 95")
        assertClose(i95.high, 6.892319151091604, 1e-12, "high 95")
        XCTAssertEqual(i95.level, 0.95)
        let i90 = try Statistics.meanInterval(xs, level: 0.9)
        assertClose(i90.low, 2.2413465781996726, 1e-12, "low 90")
        assertClose(i90.high, 6.358653421800325, 1e-12, "high 90")
        // stats.ttest_1samp(xs, 3.0): statistic 1.2270809345172586, pvalue 0.26575190692030154
        let t = try Statistics.oneSampleT(xs, mu: 3)
        assertClose(t.statistic, 1.2270809345172586, 1e-12, "t")
        assertClose(t.pValue, 0.26575190692030154, 1e-11, "p")
        XCTAssertEqual(try Statistics.meanInterval([0.9, 0.9, 0.9]), Interval(low: 0.9, high: 0.9, level: 0.95))
    }

    func testWelch() throws {
        // r = stats.ttest_ind(b, a, equal_var=False): statistic -3.0388823954277733,
        // pvalue 0.018196163819829362, df 7.215436692669165;
        // r.confidence_interval(0.95) = (-0.04788282385624456, -0.006117176143755489),
        // r.confidence_interval(0.99) = (-0.05777865478250102, 0.0037786547825009766)
        let d = try Statistics.welch(a, b)
        assertClose(d.difference, (b.reduce(0, +) / 6) - (a.reduce(0, +) / 8), 1e-13, "difference")
        assertClose(d.test.statistic, -3.0388823954277733, 1e-12, "t")
        assertClose(d.test.pValue, 0.018196163819829362, 1e-10, "p")
        assertClose(d.degreesOfFreedom, 7.215436692669165, 1e-12, "df")
        assertClose(d.interval.low, -0.04788282385624456, 1e-11, "low")
        assertClose(d.interval.high, -0.006117176143755489, 1e-10, "high")
        XCTAssertEqual(d.test.method, .welchT)
        let d99 = try Statistics.welch(a, b, level: 0.99)
        assertClose(d99.interval.low, -0.05777865478250102, 1e-11, "low 99")
        assertClose(d99.interval.high, 0.0037786547825009766, 1e-9, "high 99")
        XCTAssert(d99.interval.contains(0) && !d.interval.contains(0))
        // stats.ttest_ind([1.5, 2.5, 3.5, 4.5], [1, 2, 3], equal_var=False)... with a = [1.5 ... 4.5], b = [1, 2, 3]:
        // statistic -1.1547005383792517, pvalue 0.3008027072551761, df 4.959183673469389,
        // CI (-3.2317114813387877, 1.2317114813387877)
        let e = try Statistics.welch([1.5, 2.5, 3.5, 4.5], [1, 2, 3])
        assertClose(e.test.statistic, -1.1547005383792517, 1e-12, "t")
        assertClose(e.test.pValue, 0.3008027072551761, 1e-10, "p")
        assertClose(e.degreesOfFreedom, 4.959183673469389, 1e-12, "df")
        assertClose(e.interval.low, -3.2317114813387877, 1e-11, "low")
        assertClose(e.interval.high, 1.2317114813387877, 1e-11, "high")
        // Constant samples: a degenerate interval at the difference, documented p.
        let c = try Statistics.welch([0.5, 0.5], [0.75, 0.75, 0.75])
        XCTAssertEqual(c.interval, Interval(low: 0.25, high: 0.25, level: 0.95))
        XCTAssertEqual(c.test.pValue, 0)
    }

    func testMannWhitney() throws {
        // stats.mannwhitneyu([19, 22, 16, 29, 24], [20, 11, 17, 12]): statistic 17.0, pvalue 0.1111111111111111 (exact)
        var r = try Statistics.mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12])
        XCTAssertEqual(r.statistic, 17)
        assertClose(r.pValue, 0.1111111111111111, 1e-14, "exact 5x4")
        XCTAssertEqual(r.method, .mannWhitneyExact)
        // method="asymptotic": pvalue 0.11134688653314041 (scipy docstring)
        r = try Statistics.mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12], method: .normal)
        assertClose(r.pValue, 0.11134688653314041, 1e-12, "normal 5x4")

        // stats.mannwhitneyu(x, y), 3 vs 20, no ties: statistic 55.0, pvalue 0.018068887634105024 (exact);
        // swapped: statistic 5.0, the same p
        let x = [0.81, 0.77, 0.92]
        let y = [0.70, 0.74, 0.79, 0.83, 0.66, 0.71, 0.69, 0.80, 0.72, 0.75, 0.68, 0.73, 0.78, 0.65, 0.76, 0.64, 0.67, 0.63, 0.62, 0.61]
        r = try Statistics.mannWhitneyU(x, y)
        XCTAssertEqual(r.statistic, 55)
        assertClose(r.pValue, 0.018068887634105024, 1e-13, "exact 3x20")
        r = try Statistics.mannWhitneyU(y, x)
        XCTAssertEqual(r.statistic, 5)
        assertClose(r.pValue, 0.018068887634105024, 1e-13, "exact 20x3")

        // 9 vs 12 with no ties: asymptotic (both > 8): statistic 31.0, pvalue 0.1097040463660714
        let x9 = (0..<9).map { 0.1 * Double($0) + 0.05 * Double($0 % 3) }
        let y12 = (0..<12).map { 0.07 * Double($0) + 0.3 }
        r = try Statistics.mannWhitneyU(x9, y12)
        XCTAssertEqual(r.statistic, 31)
        assertClose(r.pValue, 0.1097040463660714, 1e-12, "normal 9x12")
        XCTAssertEqual(r.method, .mannWhitneyNormal)

        // Ties force the normal approximation with tie correction:
        // stats.mannwhitneyu([0.90, 0.91, 0.91, 0.92, 0.90, 0.93], [0.89, 0.90, 0.88, 0.90, 0.91, 0.87, 0.89]):
        // statistic 37.0, pvalue 0.023736351608237255
        r = try Statistics.mannWhitneyU([0.90, 0.91, 0.91, 0.92, 0.90, 0.93], [0.89, 0.90, 0.88, 0.90, 0.91, 0.87, 0.89])
        XCTAssertEqual(r.statistic, 37)
        assertClose(r.pValue, 0.023736351608237255, 1e-12, "ties")
        XCTAssertEqual(r.method, .mannWhitneyNormal)
        // Everything tied: stats.mannwhitneyu([1, 1, 1], [1, 1]): statistic 3.0, pvalue 1.0
        r = try Statistics.mannWhitneyU([1, 1, 1], [1, 1])
        XCTAssertEqual(r.statistic, 3)
        XCTAssertEqual(r.pValue, 1)

        // Forcing the exact distribution on samples too large for it is a clear error.
        XCTAssertThrowsError(try Statistics.mannWhitneyU((0..<600).map(Double.init), (0..<600).map { Double($0) + 0.5 }, method: .exact))
        // Exact with a long other side: stats.mannwhitneyu(range(8), [i + 0.5 for i in range(3, 300)]):
        // statistic 10.0, pvalue 1.606538842733454e-13
        r = try Statistics.mannWhitneyU((0..<8).map(Double.init), (3..<300).map { Double($0) + 0.5 })
        XCTAssertEqual(r.statistic, 10)
        assertClose(r.pValue, 1.606538842733454e-13, 1e-10, "exact 8x297")
    }

    func testLevene() throws {
        // stats.levene(g1, g2, g3) (scipy's docstring data): statistic 7.584952754501659, pvalue 0.002431505967249677
        let g1 = [8.88, 9.12, 9.04, 8.98, 9.00, 9.08, 9.01, 8.85, 9.06, 8.99]
        let g2 = [8.88, 8.95, 9.29, 9.44, 9.15, 9.58, 8.36, 9.18, 8.67, 9.05]
        let g3 = [8.95, 9.12, 8.95, 8.85, 9.03, 8.84, 9.07, 8.98, 8.86, 8.98]
        var r = try Statistics.levene([g1, g2, g3])
        assertClose(r.statistic, 7.584952754501659, 1e-11, "W")
        assertClose(r.pValue, 0.002431505967249677, 1e-10, "p")
        XCTAssertEqual(r.method, .leveneMedian)
        // stats.levene(a, b): statistic 3.285997171145685, pvalue 0.0949490027582314
        r = try Statistics.levene([a, b])
        assertClose(r.statistic, 3.285997171145685, 1e-11, "W")
        assertClose(r.pValue, 0.0949490027582314, 1e-10, "p")
        // stats.levene([1, 2, 4], [3, 3.5, 9, 11, 2]): statistic 0.9782608695652174, pvalue 0.36082193878700075
        r = try Statistics.levene([[1, 2, 4], [3, 3.5, 9, 11, 2]])
        assertClose(r.statistic, 0.9782608695652174, 1e-12, "W")
        assertClose(r.pValue, 0.36082193878700075, 1e-11, "p")
        // Constant groups: equal (zero) spread, documented p = 1.
        XCTAssertEqual(try Statistics.levene([[1, 1], [2, 2]]).pValue, 1)
    }

    func testBinomialTest() throws {
        // stats.binomtest(k, n, p).pvalue
        let cases: [(Int, Int, Double, Double)] = [
            (3, 20, 0.3, 0.22041826738070913),
            (11, 20, 0.3, 0.024782076205458414),
            (2, 12, 0.5, 0.03857421875),
            (7, 14, 0.5, 1.0),
            (0, 30, 0.1, 0.0682179469371261),
            (480, 1000, 0.5, 0.2174482932041415),
        ]
        for (k, n, p, want) in cases {
            let r = try Statistics.binomialTest(successes: k, trials: n, probability: p)
            assertClose(r.pValue, want, 1e-11, "binomtest(\(k), \(n), \(p))")
            XCTAssertEqual(r.statistic, Double(k) / Double(n))
        }
    }

    func testMcNemar() throws {
        // Exact below 25 discordant pairs: stats.binomtest(3, 15).pvalue = 0.03515625
        let items = PairedCounts(both: 70, onlyA: 3, onlyB: 12, neither: 15)
        var r = try Statistics.mcNemar(items)
        XCTAssertEqual(r.method, .mcNemarExact)
        XCTAssertEqual(r.statistic, 3)
        assertClose(r.pValue, 0.03515625, 1e-13, "exact")
        // From per-item outcomes: the same table.
        let a = Array(repeating: true, count: 70) + Array(repeating: true, count: 3) + Array(repeating: false, count: 12) + Array(repeating: false, count: 15)
        let b = Array(repeating: true, count: 70) + Array(repeating: false, count: 3) + Array(repeating: true, count: 12) + Array(repeating: false, count: 15)
        XCTAssertEqual(try PairedCounts(a, b), items)
        XCTAssertEqual(try Statistics.mcNemar(a, b), r)
        // Chi-square from 25 on: (abs(10 - 25) - 1)**2 / 35 = 5.6, stats.chi2.sf(5.6, 1) = 0.01796047752607879
        r = try Statistics.mcNemar(PairedCounts(both: 0, onlyA: 10, onlyB: 25, neither: 0))
        XCTAssertEqual(r.method, .mcNemarChiSquare)
        assertClose(r.statistic, 5.6, 1e-14, "X^2")
        assertClose(r.pValue, 0.01796047752607879, 1e-12, "chi2")
        // (abs(40 - 60) - 1)**2 / 100 = 3.61, stats.chi2.sf(3.61, 1) = 0.05743311963200335
        r = try Statistics.mcNemar(PairedCounts(both: 5, onlyA: 40, onlyB: 60, neither: 5))
        assertClose(r.pValue, 0.05743311963200335, 1e-12, "chi2")
        // Forced exact at 35 pairs agrees with binomtest; no discordant pairs: p = 1.
        r = try Statistics.mcNemar(PairedCounts(both: 0, onlyA: 10, onlyB: 25, neither: 0), method: .exact)
        XCTAssertEqual(r.method, .mcNemarExact)
        XCTAssertEqual(try Statistics.mcNemar(PairedCounts(both: 9, onlyA: 0, onlyB: 0, neither: 1)).pValue, 1)
    }

    func testSplitMix64KnownAnswers() {
        // Vigna's splitmix64.c (the recurrence in Python): seed 0 -> e220a8397b1dcdaf 6e789e6aa1b965f4
        // 06c45d188009454f; seed 1234567 -> 599ed017fb08fc85 (= 6457827717110365317) 2c73f08458540fa5 883ebce5a3f27c77
        var g = SplitMix64(seed: 0)
        XCTAssertEqual([g.next(), g.next(), g.next()], [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        g = SplitMix64(seed: 1_234_567)
        XCTAssertEqual([g.next(), g.next(), g.next()], [0x599E_D017_FB08_FC85, 0x2C73_F084_5854_0FA5, 0x883E_BCE5_A3F2_7C77])
        // Bounded draws are uniform: 60,000 draws below 6 land within 5 sigma of 10,000 each.
        var counts = [Int](repeating: 0, count: 6)
        g = SplitMix64(seed: 99)
        for _ in 0..<60_000 { counts[Statistics.uniformIndex(below: 6, using: &g)] += 1 }
        for c in counts { XCTAssert(abs(c - 10_000) < 5 * 91, "\(counts)") }
    }

    func testBootstrapMatchesScipyWithinMonteCarloError() throws {
        // r = stats.bootstrap((b, a), lambda y, x, axis: y.mean(axis) - x.mean(axis), method="percentile",
        //                     n_resamples=200000, rng=np.random.default_rng(7))
        // r.confidence_interval = (-0.04283333333333328, -0.011083333333333334); the endpoints'
        // standard deviation over 20 scipy runs of 10,000 resamples: 0.00019 and 0.00022.
        let i = try Statistics.bootstrapMeanDifference(a, b, resamples: 20_000, seed: 2024)
        XCTAssertEqual(i.level, 0.95)
        XCTAssertEqual(i.low, -0.04283333333333328, accuracy: 0.001)
        XCTAssertEqual(i.high, -0.011083333333333334, accuracy: 0.001)
        // Reproducible from the seed; another seed gives another (close) interval.
        XCTAssertEqual(try Statistics.bootstrapMeanDifference(a, b, resamples: 20_000, seed: 2024), i)
        XCTAssertNotEqual(try Statistics.bootstrapMeanDifference(a, b, resamples: 20_000, seed: 2025), i)
        // Percentile bootstrap of one value a side: the interval is that difference.
        XCTAssertEqual(try Statistics.bootstrapMeanDifference([1], [3], resamples: 10, seed: 1), Interval(low: 2, high: 2, level: 0.95))
    }

    func testGenericBootstrapOfAMedianRatio() throws {
        // stats.bootstrap((b, a), lambda y, x, axis: np.median(y, axis=axis) / np.median(x, axis=axis),
        //                 method="percentile", n_resamples=200000, rng=np.random.default_rng(7))
        // -> (0.948087431693989, 0.9950358521787093); endpoint sd over 10 runs of 20,000: 0.00033, 0.00019
        var g = SplitMix64(seed: 5)
        let i = try Statistics.bootstrap(a, b, resamples: 20_000, generator: &g) { x, y in
            (try! Statistics.median(y)) / (try! Statistics.median(x))
        }
        XCTAssertEqual(i.low, 0.948087431693989, accuracy: 0.003)
        XCTAssertEqual(i.high, 0.9950358521787093, accuracy: 0.003)
    }

    func testSummaryAndPairedRatio() throws {
        // np.quantile(xs, [0.25, 0.75, 0.95]) = [2.8, 5.1, 8.509999999999998]
        let s = try Statistics.summary(xs)
        XCTAssertEqual(s.count, 7)
        XCTAssertEqual(s.min, 1.2)
        XCTAssertEqual(s.max, 9.8)
        XCTAssertEqual(s.median, 3.3)
        assertClose(s.q25, 2.8, 1e-14, "q25")
        assertClose(s.q75, 5.1, 1e-14, "q75")
        assertClose(s.p95, 8.509999999999998, 1e-14, "p95")
        assertClose(s.standardDeviation, 2.802974610421341, 1e-14, "sd")
        XCTAssertEqual(try Statistics.summary([4]).standardDeviation, 0)
        // Latencies of A and B measured interleaved: r = np.log(b / a); np.exp(r.mean()) = 1.1778156791539465,
        // np.exp(stats.t.interval(0.95, 7, r.mean(), stats.sem(r))) = [1.1515485824056202, 1.20468193461961]
        let la = [10.2, 11.0, 9.8, 10.5, 10.9, 10.1, 12.0, 10.4], lb = [12.1, 12.5, 11.9, 12.0, 13.4, 11.8, 14.1, 12.2]
        let r = try Statistics.pairedRatio(la, lb)
        assertClose(r.ratio, 1.1778156791539465, 1e-13, "ratio")
        assertClose(r.interval.low, 1.1515485824056202, 1e-11, "low")
        assertClose(r.interval.high, 1.20468193461961, 1e-11, "high")
        XCTAssertFalse(r.interval.contains(1))
        // Identical models timed against each other: the interval contains 1.
        XCTAssert(try Statistics.pairedRatio(la, la.reversed()).interval.contains(1))
        XCTAssertThrowsError(try Statistics.pairedRatio([1, 0], [1, 1]))
        XCTAssertThrowsError(try Statistics.pairedRatio([1, 2, 3], [1, 1]))
    }

    func testTwoSampleComparison() throws {
        // np.mean(a) = 0.9145000000000001, np.mean(b) = 0.8875000000000001; Welch as in testWelch;
        // stats.mannwhitneyu(b, a): pvalue 0.020000001809308967 (ties: normal approximation);
        // stats.levene(a, b): pvalue 0.0949490027582314
        let c = try Statistics.compare(a, b)
        assertClose(c.a.mean, 0.9145000000000001, 1e-15, "mean a")
        assertClose(c.b.mean, 0.8875000000000001, 1e-15, "mean b")
        assertClose(c.difference.test.pValue, 0.018196163819829362, 1e-10, "Welch p")
        assertClose(c.rank.pValue, 0.020000001809308967, 1e-10, "Mann-Whitney p")
        assertClose(try XCTUnwrap(c.spread).pValue, 0.0949490027582314, 1e-10, "Levene p")
        XCTAssert(c.significant)
        // Two values a side deviate equally from their median: Levene's test is not computed
        // (it gave W = inf or 1e28 from rounding noise), the rest is.
        let two = try Statistics.compare([0.8, 0.9], [0.6, 0.95])
        XCTAssertNil(two.spread)
        assertClose(two.difference.difference, -0.075, 1e-12, "the difference is still computed")
        XCTAssertFalse(c.difference.interval.contains(0))
        // At 99% the same data are not significant, and the interval says the same.
        let c99 = try Statistics.compare(a, b, level: 0.99)
        XCTAssertFalse(c99.significant)
        XCTAssert(c99.difference.interval.contains(0))
    }

    func testResultsAreCodable() throws {
        let r = try Statistics.mannWhitneyU(a, b)  // 0.915 is on both sides: a tie, so the normal approximation
        let json = try JSONEncoder().encode(r)
        XCTAssert(String(decoding: json, as: UTF8.self).contains("\"method\":\"mann-whitney-normal\""), String(decoding: json, as: UTF8.self))
        XCTAssertEqual(try JSONDecoder().decode(TestResult.self, from: json), r)
        let d = try Statistics.welch(a, b)
        XCTAssertEqual(try JSONDecoder().decode(MeanDifference.self, from: JSONEncoder().encode(d)), d)
    }
}
