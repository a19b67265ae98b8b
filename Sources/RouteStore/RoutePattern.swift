import Foundation

/// The regular expression of a pattern route (`route add --match 'dev-([a-z]+)' …`): it serves
/// logins with no route of their own that it matches whole, and its upstream user may name
/// what it captured (`--upstream-user '$1'`). Patterns are checked when written: a safe subset
/// of regular expressions (no backreferences or lookaround, no repeated group that itself
/// repeats or alternates, so matching a login of at most 64 characters stays fast), compiled
/// once per process.
public struct RoutePattern: Sendable {
    /// The pattern as the operator wrote it.
    public let source: String
    private let expression: NSRegularExpression

    /// Longest pattern accepted.
    public static let maximumLength = 200
    /// How a pattern route's login column marks it: `~` and the pattern (no login can start with `~`).
    public static let marker: Character = "~"

    public init(_ source: String) throws(RouteStoreError) {
        guard !source.isEmpty, source.utf8.count <= Self.maximumLength else {
            throw .invalidPolicy("a route pattern is 1 to \(Self.maximumLength) bytes")
        }
        if let problem = Self.costProblem(in: source) { throw .invalidPolicy("route pattern \"\(source.prefix(80))\": \(problem)") }
        do {
            expression = try NSRegularExpression(pattern: "^(?:\(source))$")
        } catch {
            throw .invalidPolicy("route pattern \"\(source.prefix(80))\" is not a regular expression")
        }
        self.source = source
    }

    /// The number of capture groups (`$1`…`$N` in templates).
    public var groupCount: Int { expression.numberOfCaptureGroups }

    /// The groups of a whole match of `login` (`[0]` is the login), or nil if it does not match.
    public func captures(of login: String) -> [String]? {
        let range = NSRange(login.startIndex..., in: login)
        guard let match = expression.firstMatch(in: login, options: [.anchored], range: range) else { return nil }
        return (0..<match.numberOfRanges).map { index in
            Range(match.range(at: index), in: login).map { String(login[$0]) } ?? ""
        }
    }

    /// `template` with `$0`…`$9` replaced by `captures`.
    public static func expand(_ template: String, with captures: [String]) -> String {
        var result = ""
        var characters = template.makeIterator()
        while let character = characters.next() {
            guard character == "$" else {
                result.append(character)
                continue
            }
            if let digit = characters.next() {
                if let index = digit.wholeNumberValue, index < captures.count { result += captures[index] } else { result.append("$"); result.append(digit) }
            } else {
                result.append("$")
            }
        }
        return result
    }

    /// Checks an upstream user template against this pattern: name characters and `$N` for
    /// groups the pattern has.
    public func validateTemplate(_ template: String) throws(RouteStoreError) {
        var probe = template
        for index in stride(from: 9, through: 0, by: -1) where probe.contains("$\(index)") {
            guard index <= groupCount else {
                throw .invalidUpstreamUser(template, reason: "the pattern has no group $\(index)")
            }
            probe = probe.replacingOccurrences(of: "$\(index)", with: "x")
        }
        _ = try RouteValidation.upstreamUser(probe)
    }

    /// Why matching `source` could take too long, if it could: backreferences, lookaround, and a
    /// repeated group that itself repeats or alternates (`(a+)+`, `(a|aa)*`).
    static func costProblem(in source: String) -> String? {
        let characters = Array(source)
        // For each open group: whether it holds a repetition or an alternation so far.
        var groups: [Bool] = []
        var lastClosedGroupIsRisky = false
        var index = 0
        var inClass = false
        while index < characters.count {
            let character = characters[index]
            defer { index += 1 }
            if inClass {
                if character == "\\" { index += 1 } else if character == "]" { inClass = false }
                continue
            }
            switch character {
            case "\\":
                guard index + 1 < characters.count else { return "it ends with a lone backslash" }
                let next = characters[index + 1]
                if next.isNumber || next == "k" { return "backreferences are not supported" }
                index += 1
                lastClosedGroupIsRisky = false
            case "[":
                inClass = true
                lastClosedGroupIsRisky = false
            case "(":
                if index + 2 < characters.count, characters[index + 1] == "?" {
                    let kind = characters[index + 2]
                    if kind == "=" || kind == "!" || kind == "<" { return "lookahead and lookbehind are not supported" }
                    guard kind == ":" else { return "only plain groups ( ) and (?: ) are supported" }
                }
                groups.append(false)
            case ")":
                guard let risky = groups.popLast() else { return "a ) without its (" }
                lastClosedGroupIsRisky = risky
                if risky, !groups.isEmpty { groups[groups.count - 1] = true }
                continue
            case "|":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            case "*", "+", "?", "{":
                if lastClosedGroupIsRisky && character != "?" {
                    return "a repeated group may not itself repeat or alternate (e.g. (a+)+): it can take exponential time"
                }
                if !groups.isEmpty { groups[groups.count - 1] = true }
                if character == "{" {
                    while index < characters.count && characters[index] != "}" { index += 1 }
                }
            default:
                break
            }
            lastClosedGroupIsRisky = false
        }
        if inClass { return "a [ without its ]" }
        if !groups.isEmpty { return "a ( without its )" }
        return nil
    }
}
