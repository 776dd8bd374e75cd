/// Writes SVG markup as text. Every attribute value and every text node passes through
/// `HTMLText.escape`, so a caller cannot inject markup; element and attribute names are the
/// program's own literals. The output is well-formed XML (the tests parse it).
struct SVGWriter {
    private(set) var text = ""

    /// `<name a="v" ...>` (left open: pair with `close`).
    mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
        text += "<\(name)\(Self.attributes(attributes))>"
    }

    mutating func close(_ name: String) { text += "</\(name)>" }

    /// A complete element: `<name .../>`, or with a `<title>` child (the tooltip and accessible
    /// name of that mark) and/or text content.
    mutating func element(_ name: String, _ attributes: [(String, String)], title: String? = nil, content: String? = nil) {
        if title == nil && content == nil {
            text += "<\(name)\(Self.attributes(attributes))/>"
            return
        }
        text += "<\(name)\(Self.attributes(attributes))>"
        if let title { text += "<title>\(HTMLText.escape(title))</title>" }
        if let content { text += HTMLText.escape(content) }
        text += "</\(name)>"
    }

    /// Appends markup another writer produced.
    mutating func append(_ other: SVGWriter) { text += other.text }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ attributes: [(String, String)] = []) {
        element("line", [("x1", HTMLText.coordinate(x1)), ("y1", HTMLText.coordinate(y1)),
                         ("x2", HTMLText.coordinate(x2)), ("y2", HTMLText.coordinate(y2))] + attributes)
    }

    mutating func rect(_ r: Rect, _ attributes: [(String, String)] = [], title: String? = nil) {
        element("rect", [("x", HTMLText.coordinate(r.x)), ("y", HTMLText.coordinate(r.y)),
                         ("width", HTMLText.coordinate(r.width)), ("height", HTMLText.coordinate(r.height))] + attributes, title: title)
    }

    /// Text at (x, y); `anchor` start, middle or end.
    mutating func label(_ s: String, x: Double, y: Double, anchor: String = "start", _ attributes: [(String, String)] = []) {
        var attrs = [("x", HTMLText.coordinate(x)), ("y", HTMLText.coordinate(y))]
        if anchor != "start" { attrs.append(("text-anchor", anchor)) }
        element("text", attrs + attributes, content: s)
    }

    static func attributes(_ attributes: [(String, String)]) -> String {
        attributes.map { " \($0.0)=\"\(HTMLText.escape($0.1))\"" }.joined()
    }
}

/// A rectangle in SVG user units (y grows downwards).
struct Rect: Equatable {
    var x: Double, y: Double, width: Double, height: Double
    var maxX: Double { x + width }
    var maxY: Double { y + height }
}
