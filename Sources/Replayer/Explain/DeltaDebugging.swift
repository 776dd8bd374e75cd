/// Zeller's delta debugging ("Simplifying and Isolating Failure-Inducing Input", TSE 2002): a
/// 1-minimal subset of a set of changes for which a test holds. `explain` uses it to find the
/// fewest semantics knobs and config values that reproduce a gap.
enum DeltaDebugging {
    /// ddmin: a 1-minimal subset of `items` for which `test` holds (`test(items)` must hold):
    /// removing any one element of the result makes the test fail. `name` identifies an element.
    static func ddmin<T>(_ items: [T], name: (T) -> String, _ test: ([T]) throws -> Bool) throws -> [T] {
        if try test([]) { return [] }
        var c = items, n = 2
        while c.count >= 2 {
            let chunks = split(c, into: n)
            if let hit = try chunks.first(where: { try test($0) }) {
                c = hit; n = 2; continue
            }
            if n > 2, let i = try chunks.indices.first(where: { i in try test(complement(c, chunks[i], name: name)) }) {
                c = complement(c, chunks[i], name: name); n = max(n - 1, 2); continue
            }
            if n >= c.count { break }
            n = min(c.count, 2 * n)
        }
        return c
    }

    /// ddmin started from the shortest prefix of `items` ranked by `closeness` (0: alone it passes
    /// best; smaller is closer) that passes (usually a few runs), or from all of them.
    static func minimal<T>(_ items: [T], closeness: [Double], name: (T) -> String, _ test: ([T]) throws -> Bool) throws -> [T] {
        let ranked = items.indices.sorted { closeness[$0] < closeness[$1] }.map { items[$0] }
        var initial = items
        for k in 1..<max(1, ranked.count) where try test(Array(ranked.prefix(k))) {
            initial = Array(ranked.prefix(k))
            break
        }
        return try ddmin(initial, name: name, test)
    }

    /// `c` in `n` contiguous chunks of near-equal size.
    static func split<T>(_ c: [T], into n: Int) -> [[T]] {
        (0..<n).map { i in Array(c[(i * c.count / n)..<((i + 1) * c.count / n)]) }.filter { !$0.isEmpty }
    }

    /// `c` without the elements of `part`.
    static func complement<T>(_ c: [T], _ part: [T], name: (T) -> String) -> [T] {
        let names = Set(part.map(name))
        return c.filter { !names.contains(name($0)) }
    }
}

extension Explain {
    /// ddmin over differences (see `DeltaDebugging.ddmin`).
    static func ddmin(_ items: [Item], _ test: ([Item]) throws -> Bool) throws -> [Item] {
        try DeltaDebugging.ddmin(items, name: \.name, test)
    }
}
