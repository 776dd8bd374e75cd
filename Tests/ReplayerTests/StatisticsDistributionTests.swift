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

    /// A grid of t quantiles and F tail probabilities against scipy; prints the largest relative error.
    func testQuantileAndTailGrids() {
        // stats.t.ppf(p, df) for p in [0.6, 0.9, 0.975, 0.995, 0.9995, 1e-6]
        let ps = [0.6, 0.9, 0.975, 0.995, 0.9995, 1e-6]
        let tTable: [(Double, [Double])] = [
            (1.0, [0.32491969623290634, 3.0776835371752544, 12.706204736174694, 63.656741162871526, 636.6192487687897, -318309.8861827435]),
            (1.5, [0.30074539256979543, 2.1963984175655376, 6.016663104427929, 17.820310514462804, 82.84744670366369, -5219.4693247069445]),
            (2.0, [0.2886751345948128, 1.8856180831641272, 4.302652729749462, 9.924843200918287, 31.599054576445365, -707.1057205259339]),
            (3.0, [0.2766706623326898, 1.637744353696209, 3.1824463052837078, 5.840909309733355, 12.923978636687961, -103.29946778041935]),
            (4.7, [0.2680827195410317, 1.4901550815168034, 2.62072607535317, 4.1678920401190584, 7.266542375825276, -28.20094979234241]),
            (9.0, [0.260955336473911, 1.3830287383966329, 2.262157162798205, 3.249835541592126, 4.780912585931217, -10.7201604099095]),
            (17.0, [0.2573470057512778, 1.3333793897216268, 2.1098155778333156, 2.8982305196774183, 3.965126272119082, -7.036486856753768]),
            (60.0, [0.2544733949895309, 1.295821093515731, 2.0002978220142604, 2.6602830288550368, 3.460200469196392, -5.263554854652544]),
            (250.0, [0.2536168815819393, 1.2849470554222564, 1.9694983934211532, 2.5956376304661806, 3.329867205673151, -4.867928470361656]),
            (10000.0, [0.253353843445727, 1.2816362297304775, 1.960201239890626, 2.5763210466685282, 3.2914999659416355, -4.75622968505678]),
        ]
        var worst = 0.0
        for (df, qs) in tTable {
            for (p, q) in zip(ps, qs) {
                let got = StudentT(degreesOfFreedom: df).quantile(p)
                worst = max(worst, abs(got - q) / abs(q))
                assertClose(got, q, 1e-10, "t(\(df)).ppf(\(p))")
            }
        }
        print("t quantiles: largest relative error against scipy \(worst)")
        // stats.f.sf(x, d1, d2) for x in [0.2, 1.0, 3.5, 12.0]
        let xs = [0.2, 1.0, 3.5, 12.0]
        let fTable: [(Double, Double, [Double])] = [
            (1.0, 1.0, [0.7322795271987699, 0.5000000000000001, 0.31250561891173007, 0.17891237502206686]),
            (1.0, 3.0, [0.6850376424742924, 0.3910022189557705, 0.15812366859406662, 0.04051932635383402]),
            (1.0, 10.0, [0.6642514717311352, 0.34089313230206, 0.09088409683432132, 0.0060808479270885365]),
            (1.0, 100.0, [0.6556880071957626, 0.31972415578412333, 0.06429273302444205, 0.0007847827245154137]),
            (2.0, 1.0, [0.8451542547285166, 0.5773502691896257, 0.3535533905932738, 0.2]),
            (2.0, 3.0, [0.8288262676126978, 0.46475800154489, 0.1643167672515498, 0.037037037037037035]),
            (2.0, 10.0, [0.8219271067593518, 0.4018775720164609, 0.07042962777237427, 0.002200925867886696]),
            (2.0, 100.0, [0.8190574398372995, 0.3715278821269618, 0.03394775941762179, 2.1326311181047407e-05]),
            (5.0, 1.0, [0.9244131815783876, 0.6367825323508771, 0.3841158342151454, 0.21558489096684227]),
            (5.0, 3.0, [0.9423311143775628, 0.535145210006365, 0.16570982800132134, 0.03378259703632448]),
            (5.0, 10.0, [0.9551917702464295, 0.46511942653780036, 0.043485040659110664, 0.0005772160668774543]),
            (5.0, 100.0, [0.9617665475935794, 0.4218298943719735, 0.005877954290978525, 4.140409316474492e-09]),
            (30.0, 1.0, [0.9670636940743622, 0.6746913845739699, 0.40308032646152003, 0.22518468122184648]),
            (30.0, 3.0, [0.9937451293981265, 0.5936427331270512, 0.16468765646626188, 0.03139841541766819]),
            (30.0, 10.0, [0.9997185286073247, 0.5345757095055887, 0.02051013408516232, 0.00012206792700123094]),
            (30.0, 100.0, [0.999997801786226, 0.4788703694348977, 1.417489846341003e-06, 1.2185825385037792e-21]),
        ]
        worst = 0
        for (d1, d2, sfs) in fTable {
            for (x, sf) in zip(xs, sfs) {
                let got = FDistribution(d1: d1, d2: d2).sf(x)
                worst = max(worst, abs(got - sf) / sf)
                assertClose(got, sf, 1e-11, "F(\(d1), \(d2)).sf(\(x))")
            }
        }
        print("F survival: largest relative error against scipy \(worst)")
    }
}
