import Foundation

/// Colours of the report charts.
enum Palette {
    /// Series colours: the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008),
    /// distinguishable with the common colour-vision deficiencies; the yellow is left out (too
    /// pale on white). Series beyond seven reuse the colours with a dashed line.
    static let series = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

    static func color(_ i: Int) -> String { series[i % series.count] }
    /// A dash pattern for series `i` once the colours repeat (nil for the first seven).
    static func dash(_ i: Int) -> String? { i < series.count ? nil : ["6 3", "2 3", "8 3 2 3"][(i / series.count - 1) % 3] }

    static let text = "#222222"
    static let axis = "#666666"
    static let grid = "#e4e4e4"
    static let marker = "#B00020"
    /// Heat-map cells whose values are identical (0 ulp), and cells with no value.
    static let identical = "#f0f0f0"
    static let missing = "#ffffff"

    /// The viridis colour map (perceptually uniform, readable in grey and by colour-blind
    /// readers): viridisLite::viridis(9) stops, linearly interpolated in sRGB.
    static let viridisStops: [(Double, Double, Double)] = [
        (0x44, 0x01, 0x54), (0x47, 0x2D, 0x7B), (0x3B, 0x52, 0x8B), (0x2C, 0x72, 0x8E), (0x21, 0x90, 0x8C),
        (0x27, 0xAD, 0x81), (0x5D, 0xC8, 0x63), (0xAA, 0xDC, 0x32), (0xFD, 0xE7, 0x25),
    ]

    /// The viridis colour at `t` in [0, 1] (clamped), as "#rrggbb".
    static func viridis(_ t: Double) -> String {
        let t = min(1, max(0, t.isFinite ? t : 0)) * Double(viridisStops.count - 1)
        let i = min(Int(t), viridisStops.count - 2), f = t - Double(i)
        let (a, b) = (viridisStops[i], viridisStops[i + 1])
        func channel(_ x: Double, _ y: Double) -> Int { Int((x + f * (y - x)).rounded()) }
        return hex(channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
    }

    static func hex(_ r: Int, _ g: Int, _ b: Int) -> String {
        let digits = Array("0123456789abcdef")
        return "#" + [r, g, b].map { "\(digits[$0 >> 4])\(digits[$0 & 15])" }.joined()
    }
}
