import XCTest
@testable import Replayer

/// Special functions and distributions against scipy 1.17.1 (system python3). Each expected value
/// is the scipy call in the comment beside it, printed with repr().
final class StatisticsDistributionTests: XCTestCase {
    /// |actual - expected| <= tol * max(|expected|, tiny): relative tolerance, absolute near 0.
    func assertClose(_ actual: Double, _ expected: Double, _ tol: Double = 1e-12, _ what: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(abs(expected), 1e-300)
        XCTAssert(abs(actual - expected) <= tol * scale, "\(what): \(actual) vs scipy \(expected) (rel \(abs(actual - expected) / scale))",
                  file: file, line: line)
    }

    func testIncompleteBeta() {
        // special.betainc(a, b, x), special.betaincc(a, b, x)
        let cases: [(Double, Double, Double, Double, Double)] = [
            (0.5, 0.5, 0.2, 0.2951672353008665, 0.7048327646991335),
            (2, 3, 0.4, 0.5247999999999999, 0.47519999999999996),
            (10, 0.5, 0.97, 0.4408041535957583, 0.5591958464042418),
            (50, 60, 0.45, 0.4642352914306031, 0.5357647085693964),
            (3.5, 0.5, 0.999, 0.9356322688440224, 0.06436773115597756),
            (0.3, 7, 1e-3, 0.24736406489314075, 0.7526359351068593),
            (500, 500, 0.52, 0.897082472693004, 0.10291752730699572),
        ]
        for (a, b, x, lower, upper) in cases {
            let r = SpecialFunctions.incompleteBeta(a: a, b: b, x: x)
            assertClose(r.lower, lower, 1e-12, "I_\(x)(\(a), \(b))")
            assertClose(r.upper, upper, 1e-12, "1 - I_\(x)(\(a), \(b))")
        }
    }

    func testInverseIncompleteBeta() {
        // special.betaincinv(a, b, p)
        let cases: [(Double, Double, Double, Double)] = [
            (0.5, 0.5, 0.05, 0.0061558297024311365),
            (2, 3, 0.3, 0.27238394207510536),
            (5, 0.5, 0.05, 0.6682435993290506),
            (50, 60, 0.999, 0.6007596547939361),
            (0.3, 7, 1e-8, 2.2570524181320712e-28),
            (3.5, 0.5, 1e-12, 0.0005303532588286955),
        ]
        for (a, b, p, x) in cases {
            assertClose(SpecialFunctions.inverseIncompleteBeta(a: a, b: b, p: p), x, 1e-11, "I^-1_\(p)(\(a), \(b))")
        }
        // Round trip over a grid, including p near 0 and 1.
        for a in [0.2, 1, 3.7, 40] {
            for b in [0.5, 2, 25] {
                for p in [1e-10, 0.01, 0.3, 0.5, 0.77, 0.999] {
                    let x = SpecialFunctions.inverseIncompleteBeta(a: a, b: b, p: p)
                    assertClose(SpecialFunctions.incompleteBeta(a: a, b: b, x: x).lower, p, 1e-10, "I(I^-1_\(p)(\(a), \(b)))")
                }
            }
        }
    }

    func testIncompleteGamma() {
        // special.gammaincc(a, x)
        for (a, x, q) in [(0.5, 3.84, 0.005583616806378756), (1, 0.5, 0.6065306597126334), (5, 2, 0.9473469826562889),
                          (5, 20, 1.694474393006737e-05), (50, 40, 0.9296649333406051)] {
            assertClose(SpecialFunctions.incompleteGamma(a: a, x: x).upper, q, 1e-12, "Q(\(a), \(x))")
        }
    }

    func testStudentT() {
        // stats.t.cdf(-2.1, df), stats.t.sf(2.1, df), stats.t.cdf(0.3, df), stats.t.ppf(0.975, df),
        // stats.t.ppf(0.005, df), stats.t.sf(40, df)
        let cases: [(Double, Double, Double, Double, Double, Double, Double?)] = [
            (1, 0.141463028121509, 0.141463028121509, 0.5927735790777423, 12.706204736174694, -63.65674116287158, 0.007956089912025812),
            (2.5, 0.07225122237742189, 0.07225122237742189, 0.6063288142524014, 3.5746548420036817, -7.163728138948786, 7.09781714524669e-05),
            (7, 0.036935598106461326, 0.036935598106461326, 0.6135549747989328, 2.364624251592784, -3.4994832973504932, 7.951089992425182e-10),
            (30, 0.022121235631161765, 0.022121235631161765, 0.6168769473578236, 2.0422724563012378, -2.749995653567226, 6.863022597203209e-28),
            (12345.6, 0.017874540111234176, 0.017874540111234176, 0.6179088967454294, 1.9601561582595104, -2.576227604425214, nil),
        ]
        for (df, cdfLow, sfHigh, cdfMid, q975, q005, farTail) in cases {
            let t = StudentT(degreesOfFreedom: df)
            assertClose(t.cdf(-2.1), cdfLow, 1e-11, "t\(df).cdf(-2.1)")
            assertClose(t.sf(2.1), sfHigh, 1e-11, "t\(df).sf(2.1)")
            assertClose(t.cdf(0.3), cdfMid, 1e-12, "t\(df).cdf(0.3)")
            assertClose(t.quantile(0.975), q975, 1e-10, "t\(df).ppf(0.975)")
            assertClose(t.quantile(0.005), q005, 1e-10, "t\(df).ppf(0.005)")
            if let farTail { assertClose(t.sf(40), farTail, 1e-10, "t\(df).sf(40)") }
        }
        XCTAssertEqual(StudentT(degreesOfFreedom: 3).quantile(0.5), 0)
        assertClose(StudentT(degreesOfFreedom: .infinity).quantile(0.975), 1.959963984540054, 1e-14, "t(inf)")
    }

    func testNormal() {
        // stats.norm.ppf(0.975), ppf(1e-10), ppf(0.3), ppf(1 - 1e-15), stats.norm.sf(7.5)
        assertClose(Normal.quantile(0.975), 1.959963984540054, 1e-14, "ppf(0.975)")
        assertClose(Normal.quantile(1e-10), -6.361340902404056, 1e-14, "ppf(1e-10)")
        assertClose(Normal.quantile(0.3), -0.5244005127080409, 1e-14, "ppf(0.3)")
        assertClose(Normal.quantile(1 - 1e-15), 7.941444487415979, 1e-9, "ppf(1-1e-15)")  // 1 - 1e-15 itself rounds
        assertClose(Normal.sf(7.5), 3.1908916729108844e-14, 1e-13, "sf(7.5)")
        XCTAssertEqual(Normal.quantile(0), -.infinity)
        XCTAssert(Normal.quantile(1.5).isNaN)
    }

    func testFChiSquaredBinomial() {
        // stats.f.sf(3.2, 2, 17), f.sf(0.4, 5, 3.5), f.cdf(2.0, 4, 40), f.sf(60, 3, 100)
        assertClose(FDistribution(d1: 2, d2: 17).sf(3.2), 0.0661425666664213, 1e-12, "F sf")
        assertClose(FDistribution(d1: 5, d2: 3.5).sf(0.4), 0.8275561728311951, 1e-12, "F sf")
        assertClose(FDistribution(d1: 4, d2: 40).cdf(2.0), 0.8869691023467816, 1e-12, "F cdf")
        assertClose(FDistribution(d1: 3, d2: 100).sf(60), 2.8423531217581813e-22, 1e-10, "F far tail")
        // stats.chi2.sf(3.84, 1), chi2.sf(30, 1), chi2.sf(10, 4), chi2.cdf(0.01, 1)
        assertClose(ChiSquared(degreesOfFreedom: 1).sf(3.84), 0.05004352124870519, 1e-12, "chi2 sf")
        assertClose(ChiSquared(degreesOfFreedom: 1).sf(30), 4.3204630578274955e-08, 1e-11, "chi2 tail")
        assertClose(ChiSquared(degreesOfFreedom: 4).sf(10), 0.04042768199451279, 1e-12, "chi2(4) sf")
        assertClose(ChiSquared(degreesOfFreedom: 1).cdf(0.01), 0.07965567455405799, 1e-12, "chi2 cdf")
        // stats.binom.cdf(3, 20, 0.3), binom.sf(9, 20, 0.3), binom.pmf(6, 20, 0.3)
        let bin = Binomial(trials: 20, p: 0.3)
        assertClose(bin.cdf(3), 0.10708680450373087, 1e-12, "binom cdf")
        assertClose(bin.sf(9), 0.04796189733134342, 1e-12, "binom sf")
        assertClose(bin.pmf(6), 0.19163898275344254, 1e-12, "binom pmf")
        XCTAssertEqual(bin.cdf(20), 1)
        XCTAssertEqual(bin.sf(-1), 1)
    }
}
