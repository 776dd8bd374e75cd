import Recorder

/// A strict RFC 8259 JSON parser for configs, headers and batch orders: what two JSON readers
/// could read differently is an error, not a choice. Refused, each with its JSON path and
/// `file:line:column`: duplicate keys, trailing commas, comments, `NaN`/`Infinity` and other bare
/// words, leading zeros, `+1`, `.5`, `1.`, hexadecimal numbers, single quotes, raw control
/// characters in strings, invalid escapes, lone UTF-16 surrogates, invalid UTF-8, a byte order
/// mark, numbers beyond Float64's range (`1e400`; tiny ones such as `1e-400` round to 0 as in
/// every reader), text after the value, and nesting deeper than the limit. A syntax error says
/// what was expected and what was found.
///
/// Numbers convert to the nearest Float64 (integers of up to 15 digits and decimals of up to 19
/// significant digits with a power of ten within 1e22 exactly in Float64 arithmetic, which is
/// correctly rounded there; others through the C library's correctly rounded `strtod`), so
/// every number reads as Foundation's and Python's readers read it.
///
/// One pass over the bytes, no backtracking, recursion depth bounded by `maxDepth`; line and
/// column are computed only for an error (by counting lines up to its offset).
struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    let source: String
    let maxDepth: Int
    var pos = 0
    var depth = 0
    /// The path of the value being parsed.
    var path: [JSONPath.Component] = []
    /// When non-nil: collects integral numbers written with a fraction or an exponent (`1234.0`,
    /// `1e3`), by path, as written. Integer fields refuse them (`ConfigObject.int`).
    var spellings: [String: String]?
    /// Locate mode: stop at the value (and key) whose path renders as `target`.
    var target: String?
    var located: (key: Int?, value: Int)?
    /// Added to the line numbers of messages: the text is line `lineOffset + 1` of a larger file
    /// (a line of a JSON Lines trace).
    var lineOffset = 0

    init(_ b: UnsafeBufferPointer<UInt8>, source: String, maxDepth: Int) {
        self.b = b; self.source = source; self.maxDepth = maxDepth
    }

    /// Thrown in locate mode once the target is found.
    struct Found: Error {}

    mutating func parseDocument() throws -> JSON {
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF {
            throw error(at: 0, "starts with a UTF-8 byte order mark, which JSON text may not have (Python's json refuses it too); save the file without it")
        }
        try skipWhitespace()
        let value = try parseValue()
        try skipWhitespace()
        if pos < b.count {
            throw error(at: pos, "invalid JSON: \(found(pos)) after the end of the top-level value; a JSON text holds one value")
        }
        return value
    }

    // MARK: values

    mutating func parseValue() throws -> JSON {
        if target != nil, JSONPath.render(path) == target {
            located = (located?.key, pos)
            throw Found()
        }
        guard pos < b.count else { throw error(at: pos, "invalid JSON: expected \(valueName), found the end of the file") }
        switch b[pos] {
        case 0x7B: return try parseObject()
        case 0x5B: return try parseArray()
        case 0x22: return .string(try parseString())
        case 0x2D, 0x30...0x39: return .number(try parseNumber())
        case 0x41...0x5A, 0x61...0x7A, 0x5F: return try parseWord()
        case 0x27: throw error(at: pos, "invalid JSON: strings need double quotes (\"), found '")
        case 0x2B: throw error(at: pos, "a JSON number may not start with \"+\"; remove it", path: here)
        case 0x2E: throw error(at: pos, "a JSON number needs a digit before the decimal point (write 0\(word(at: pos)))", path: here)
        default: throw error(at: pos, "invalid JSON: expected \(valueName), found \(found(pos))")
        }
    }

    /// "a value for data.batchSize (an object, ...)" or "a JSON value" at the root.
    var valueName: String {
        path.isEmpty ? "a JSON value" : "a value for \(here) (an object, array, string, number, true, false or null)"
    }

    var here: String { JSONPath.render(path) }

    mutating func enter(_ open: Int) throws {
        depth += 1
        if depth > maxDepth {
            let total = JSON.nestingDepth(Array(b))
            throw error(at: open, "nested \(total) levels deep; JSON here may nest at most \(maxDepth) levels")
        }
    }

    mutating func parseObject() throws -> JSON {
        let open = pos
        try enter(open)
        pos += 1
        var members: [String: JSON] = [:]
        try skipWhitespace()
        if pos < b.count, b[pos] == 0x7D { pos += 1; depth -= 1; return .object(members) }
        var lastKey: String?
        while true {
            guard pos < b.count else { throw unclosed("object", open) }
            guard b[pos] == 0x22 else {
                let inside = path.isEmpty ? "at the top level" : "in \(here)"
                throw error(at: pos, "invalid JSON: expected a key in double quotes \(inside)\(lastKey == nil ? "" : " after \",\""), found \(found(pos))")
            }
            let keyAt = pos
            let key = try parseString()
            try skipWhitespace()
            guard pos < b.count, b[pos] == 0x3A else {
                path.append(.key(key))
                defer { path.removeLast() }
                throw error(at: pos, "invalid JSON: expected \":\" after the key \(here), found \(found(pos))")
            }
            pos += 1
            path.append(.key(key))
            if members[key] != nil {
                let dup = here
                throw error(at: keyAt, "duplicate key (first at \(firstOccurrence(of: dup))); give each key once (JSON readers disagree on which value wins)", path: dup)
            }
            if target != nil, here == target { located = (keyAt, 0) }
            try skipWhitespace()
            members[key] = try parseValue()
            path.removeLast()
            lastKey = key
            try skipWhitespace()
            guard pos < b.count else { throw unclosed("object", open) }
            switch b[pos] {
            case 0x2C:
                let comma = pos
                pos += 1
                try skipWhitespace()
                if pos < b.count, b[pos] == 0x7D {
                    throw error(at: comma, "invalid JSON: trailing comma after \(JSONPath.member(here, key)); remove it")
                }
            case 0x7D:
                pos += 1
                depth -= 1
                return .object(members)
            default:
                throw error(at: pos, "invalid JSON: expected \",\" or \"}\" after \(JSONPath.member(here, key)), found \(found(pos))")
            }
        }
    }

    mutating func parseArray() throws -> JSON {
        let open = pos
        try enter(open)
        pos += 1
        var elements: [JSON] = []
        try skipWhitespace()
        if pos < b.count, b[pos] == 0x5D { pos += 1; depth -= 1; return .array(elements) }
        while true {
            guard pos < b.count else { throw unclosed("array", open) }
            path.append(.index(elements.count))
            elements.append(try parseValue())
            path.removeLast()
            try skipWhitespace()
            guard pos < b.count else { throw unclosed("array", open) }
            switch b[pos] {
            case 0x2C:
                let comma = pos
                pos += 1
                try skipWhitespace()
                if pos < b.count, b[pos] == 0x5D {
                    throw error(at: comma, "invalid JSON: trailing comma after \(JSONPath.element(here, elements.count - 1)); remove it")
                }
            case 0x5D:
                pos += 1
                depth -= 1
                return .array(elements)
            default:
                throw error(at: pos, "invalid JSON: expected \",\" or \"]\" after \(JSONPath.element(here, elements.count - 1)), found \(found(pos))")
            }
        }
    }

    func unclosed(_ what: String, _ open: Int) -> InputError {
        let (l, c) = JSONParser.lineColumn(b, open)
        return error(at: pos, "invalid JSON: the file ends inside \(path.isEmpty ? "the top-level \(what)" : here) (the \(what) opened at \(l):\(c) is not closed)")
    }

    /// `true`, `false`, `null`; anything else spelled with letters is refused by name.
    mutating func parseWord() throws -> JSON {
        let start = pos
        while pos < b.count, JSONParser.isWordByte(b[pos]) { pos += 1 }
        let w = String(decoding: UnsafeBufferPointer(rebasing: b[start..<pos]), as: UTF8.self)
        switch w {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        case "NaN", "nan", "Infinity", "infinity", "inf", "Inf":
            throw error(at: start, "\(w) is not a JSON number; write a finite number", path: here)
        case "True", "False", "None", "TRUE", "FALSE", "NULL", "Null":
            throw error(at: start, "invalid JSON: \(JSONParser.clip(w)) is not a JSON value; JSON writes true, false and null in lower case", path: here)
        default:
            throw error(at: start, "invalid JSON: expected \(valueName), found \(JSONParser.clip(w)) (a string needs double quotes: \"\(JSONParser.clip(w))\")")
        }
    }

    static func isWordByte(_ c: UInt8) -> Bool {
        (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || c == 0x5F
    }

    // MARK: numbers

    static let powersOf10: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { acc, _ in acc * 10 } }

    mutating func parseNumber() throws -> Double {
        let start = pos
        let negative = b[pos] == 0x2D
        if negative {
            pos += 1
            guard pos < b.count, (0x30...0x39).contains(b[pos]) else {
                if pos < b.count, JSONParser.isWordByte(b[pos]) {
                    let w = word(at: pos)
                    if ["Infinity", "infinity", "inf", "Inf", "NaN", "nan"].contains(w) {
                        throw error(at: start, "-\(w) is not a JSON number; write a finite number", path: here)
                    }
                }
                throw error(at: pos, "invalid JSON: expected a digit after \"-\", found \(found(pos))")
            }
        }
        // value = mantissa * 10^exp10, mantissa the first 19 significant digits.
        var mantissa: UInt64 = 0, significant = 0, exp10 = 0
        var exact = true      // no non-zero digit was dropped
        if b[pos] == 0x30 {
            pos += 1
            if pos < b.count, (0x30...0x39).contains(b[pos]) {
                var end = pos
                while end < b.count, (0x30...0x39).contains(b[end]) { end += 1 }
                let digits = String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self)
                let trimmed = (negative ? "-" : "") + String(digits.drop { $0 == "-" || $0 == "0" }).nonEmpty("0")
                throw error(at: start, "\(digits) has a leading zero, which JSON numbers may not have; write \(trimmed)", path: here)
            }
            if pos < b.count, b[pos] == 0x78 || b[pos] == 0x58 {
                throw error(at: start, "\(word(at: start)): hexadecimal numbers are not JSON; write the number in decimal", path: here)
            }
        } else {
            while pos < b.count, (0x30...0x39).contains(b[pos]) {
                let d = UInt64(b[pos] &- 0x30)
                if significant < 19 { mantissa = mantissa &* 10 &+ d; significant += 1 } else { exp10 += 1; if d != 0 { exact = false } }
                pos += 1
            }
        }
        var integral = true
        if pos < b.count, b[pos] == 0x2E {
            integral = false
            pos += 1
            guard pos < b.count, (0x30...0x39).contains(b[pos]) else {
                throw error(at: start, "\(literal(start)) needs digits after the decimal point (write \(literal(start))0 or \(literal(start).dropLast()))", path: here)
            }
            while pos < b.count, (0x30...0x39).contains(b[pos]) {
                let d = UInt64(b[pos] &- 0x30)
                if mantissa == 0 && d == 0 { exp10 -= 1 }
                else if significant < 19 { mantissa = mantissa &* 10 &+ d; significant += 1; exp10 -= 1 }
                else if d != 0 { exact = false }
                pos += 1
            }
        }
        if pos < b.count, b[pos] == 0x65 || b[pos] == 0x45 {
            integral = false
            pos += 1
            var expNegative = false
            if pos < b.count, b[pos] == 0x2B || b[pos] == 0x2D { expNegative = b[pos] == 0x2D; pos += 1 }
            guard pos < b.count, (0x30...0x39).contains(b[pos]) else {
                throw error(at: start, "\(literal(start)): the exponent has no digits", path: here)
            }
            var e = 0
            while pos < b.count, (0x30...0x39).contains(b[pos]) {
                if e < 1_000_000 { e = e * 10 + Int(b[pos] &- 0x30) }
                pos += 1
            }
            exp10 += expNegative ? -e : e
        }
        var value: Double
        if exact, mantissa <= 1 << 53, (-22...22).contains(exp10) {
            // Clinger's fast path: both operands exact, one correctly rounded operation.
            value = exp10 >= 0 ? Double(mantissa) * JSONParser.powersOf10[exp10] : Double(mantissa) / JSONParser.powersOf10[-exp10]
            if negative { value = -value }
        } else {
            value = Double(literal(start)) ?? .nan
        }
        guard value.isFinite else {
            throw error(at: start, "\(JSONParser.clip(literal(start))) is beyond Float64's range (magnitude up to about 1.8e308); write a finite number", path: here)
        }
        if !integral, spellings != nil, value == value.rounded(.towardZero) {
            spellings![here] = JSONParser.clip(literal(start))
        }
        return value
    }

    func literal(_ start: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[start..<pos]), as: UTF8.self)
    }

    /// The run of word bytes (and `.`) starting at `at`, for messages.
    func word(at: Int) -> String {
        var end = at
        while end < b.count, JSONParser.isWordByte(b[end]) || b[end] == 0x2E || b[end] == 0x2D { end += 1 }
        return JSONParser.clip(String(decoding: UnsafeBufferPointer(rebasing: b[at..<end]), as: UTF8.self))
    }

    // MARK: strings

    mutating func parseString() throws -> String {
        let open = pos
        pos += 1
        let start = pos
        // Fast path: printable ASCII without escapes.
        while pos < b.count {
            let c = b[pos]
            if c == 0x22 {
                pos += 1
                return String(decoding: UnsafeBufferPointer(rebasing: b[start..<(pos - 1)]), as: UTF8.self)
            }
            if c == 0x5C || c < 0x20 || c >= 0x80 { break }
            pos += 1
        }
        var out = [UInt8](b[start..<pos])
        while pos < b.count {
            let c = b[pos]
            switch c {
            case 0x22:
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case 0x5C:
                try parseEscape(into: &out)
            case 0..<0x20:
                let escape = [0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"][Int(c)] ?? "\\u00" + JSONPath.hex4(UInt32(c)).suffix(2)
                let what = c == 0x0A || c == 0x0D ? "a line break" : "a raw control character (U+00\(JSONPath.hex4(UInt32(c)).suffix(2).uppercased()))"
                throw error(at: pos, "\(what) inside a string (opened at \(JSONParser.lineColumnText(b, open))); JSON strings must write it escaped, as \(escape)\(c == 0x0A ? ", or the closing quote is missing" : "")", path: here)
            case 0x80...:
                guard let n = JSONParser.utf8Length(b, pos) else {
                    throw error(at: pos, "invalid UTF-8 (byte 0x\(String(c, radix: 16, uppercase: true))) in a string; save the file as UTF-8", path: here)
                }
                out.append(contentsOf: b[pos..<(pos + n)])
                pos += n
            default:
                out.append(c)
                pos += 1
            }
        }
        throw error(at: open, "invalid JSON: the string starting here is not closed (the file ends inside it)")
    }

    mutating func parseEscape(into out: inout [UInt8]) throws {
        let at = pos
        guard pos + 1 < b.count else { throw error(at: at, "invalid JSON: the file ends inside an escape sequence") }
        let e = b[pos + 1]
        pos += 2
        switch e {
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x2F: out.append(0x2F)
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x6E: out.append(0x0A)
        case 0x72: out.append(0x0D)
        case 0x74: out.append(0x09)
        case 0x75:
            let u = try hex4(at: at)
            var scalar = u
            if (0xD800...0xDBFF).contains(u) {
                guard pos + 1 < b.count, b[pos] == 0x5C, b[pos + 1] == 0x75 else { throw loneSurrogate(u, at: at) }
                let save = pos
                pos += 2
                let low = try hex4(at: save)
                guard (0xDC00...0xDFFF).contains(low) else { throw loneSurrogate(u, at: at) }
                scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(u) {
                throw loneSurrogate(u, at: at)
            }
            UTF8.encode(Unicode.Scalar(scalar)!) { out.append($0) }
        default:
            let shown = e >= 0x21 && e < 0x7F ? String(UnicodeScalar(e)) : "U+00" + JSONPath.hex4(UInt32(e)).suffix(2).uppercased()
            throw error(at: at, "invalid escape \\\(shown) in a string; JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX", path: here)
        }
    }

    /// The 4 hex digits after `\u` (pos is just past the `u`).
    mutating func hex4(at: Int) throws -> UInt32 {
        guard pos + 4 <= b.count else { throw error(at: at, "invalid \\u escape: expected 4 hexadecimal digits", path: here) }
        var v: UInt32 = 0
        for i in 0..<4 {
            let c = b[pos + i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error(at: at, "invalid \\u escape: expected 4 hexadecimal digits", path: here)
            }
            v = v << 4 | d
        }
        pos += 4
        return v
    }

    func loneSurrogate(_ u: UInt32, at: Int) -> InputError {
        error(at: at, "\\u\(JSONPath.hex4(u)) is a lone UTF-16 surrogate, not a character; write a surrogate pair (such as \\ud83d\\ude00) or the character itself", path: here)
    }

    /// Length of the valid UTF-8 sequence at `i` (2 to 4 bytes; no overlong forms, no surrogates,
    /// nothing above U+10FFFF), or nil.
    static func utf8Length(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        let c = b[i]
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool { i + k < b.count && range.contains(b[i + k]) }
        switch c {
        case 0xC2...0xDF: return cont(1) ? 2 : nil
        case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
        case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : nil
        case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : nil
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
        case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : nil
        default: return nil
        }
    }

    // MARK: whitespace and comments

    mutating func skipWhitespace() throws {
        while pos < b.count {
            switch b[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            case 0x2F where pos + 1 < b.count && (b[pos + 1] == 0x2F || b[pos + 1] == 0x2A):
                let kind = b[pos + 1] == 0x2F ? "//" : "/*"
                throw error(at: pos, "invalid JSON: comments (\(kind)) are not allowed in JSON; remove it\(path.isEmpty ? "" : " (in \(here))")")
            default: return
            }
        }
    }

    // MARK: messages

    /// `source:line:column: path: message` (the path when given and not the root).
    func error(at offset: Int, _ message: String, path: String? = nil) -> InputError {
        let (l, c) = JSONParser.lineColumn(b, offset)
        let p = path.map { $0.isEmpty ? "" : "\($0): " } ?? ""
        return InputError("\(source):\(l + lineOffset):\(c): \(p)\(message)")
    }

    /// "3:9": where the first of two duplicate keys was written.
    func firstOccurrence(of dup: String) -> String {
        var p = JSONParser(b, source: source, maxDepth: maxDepth)
        p.target = dup
        do { _ = try p.parseDocument() } catch {}
        guard let k = p.located?.key else { return "?" }
        let (l, c) = JSONParser.lineColumn(b, k)
        return "\(l + lineOffset):\(c)"
    }

    /// What is at `at`, for "found ..." (control and non-ASCII characters named, never printed raw).
    func found(_ at: Int) -> String {
        guard at < b.count else { return "the end of the file" }
        let c = b[at]
        switch c {
        case 0x22: return "a string"
        case 0x2D, 0x30...0x39: return "a number"
        case 0x41...0x5A, 0x61...0x7A, 0x5F: return word(at: at)
        case 0..<0x20, 0x7F: return "a control character (U+00\(JSONPath.hex4(UInt32(c)).suffix(2).uppercased()))"
        case 0x80...:
            guard let n = JSONParser.utf8Length(b, at) else { return "byte 0x\(String(c, radix: 16, uppercase: true)) (not UTF-8)" }
            let s = String(decoding: UnsafeBufferPointer(rebasing: b[at..<(at + n)]), as: UTF8.self)
            let v = s.unicodeScalars.first!.value
            let quotes: Set<UInt32> = [0x201C, 0x201D, 0x2018, 0x2019]
            let name = "U+" + String(v, radix: 16, uppercase: true)
            if quotes.contains(v) { return "a typographic quote (\(name)); JSON needs straight double quotes (\")" }
            return (0x80...0x9F).contains(v) || v == 0xA0 || v == 0xFEFF || (0x2000...0x200F).contains(v) || (0x2028...0x202F).contains(v)
                ? "an invisible or space-like character (\(name))" : "\"\(s)\" (\(name))"
        default: return "\"\(String(UnicodeScalar(c)))\""
        }
    }

    static func clip(_ s: String) -> String {
        let safe = String(String.UnicodeScalarView(s.unicodeScalars.map { JSONPath.isControl($0) ? "?" : $0 }))
        return safe.count > 40 ? String(safe.prefix(40)) + "..." : safe
    }

    /// 1-based line and column of a byte offset: lines end at LF, CR LF or CR; columns count
    /// Unicode characters (scalars), a tab as one.
    static func lineColumn(_ b: UnsafeBufferPointer<UInt8>, _ offset: Int) -> (Int, Int) {
        var line = 1, col = 1, i = 0
        let end = min(offset, b.count)
        while i < end {
            let c = b[i]
            if c == 0x0A || (c == 0x0D && !(i + 1 < b.count && b[i + 1] == 0x0A)) {
                line += 1; col = 1
            } else if c & 0xC0 != 0x80 && c != 0x0D {
                col += 1
            }
            i += 1
        }
        return (line, col)
    }

    static func lineColumnText(_ b: UnsafeBufferPointer<UInt8>, _ offset: Int) -> String {
        let (l, c) = lineColumn(b, offset)
        return "\(l):\(c)"
    }
}

extension String {
    func nonEmpty(_ fallback: String) -> String { isEmpty ? fallback : self }
}
