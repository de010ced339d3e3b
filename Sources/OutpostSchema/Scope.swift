/// Which accounts a user may see and write: an expression over the scope root's scope fields
/// (`owner = me`, `branch = Almaty`, `region in (North, East)`, combined with `and`/`or` and
/// parentheses, or `all`). The grammar is in `protocol/scopes.md`.
public struct Scope: Hashable, Sendable, CustomStringConvertible {
    /// The parsed expression.
    indirect enum Node: Hashable, Sendable {
        case all
        case equals(field: String, value: Value, negated: Bool)
        case member(field: String, values: [Value])
        case and(Node, Node)
        case or(Node, Node)
    }

    /// A value to compare with: a literal, or `me` (the user's own name).
    enum Value: Hashable, Sendable {
        case literal(String)
        case me
    }

    let root: Node
    /// The expression as the admin wrote it.
    public let text: String

    /// The longest scope accepted, in characters (a scope travels in every user record).
    public static let maxLength = 1_024
    /// The deepest nesting of parentheses accepted.
    static let maxDepth = 32

    /// Everything.
    public static let all = Scope(root: .all, text: "all")

    init(root: Node, text: String) {
        self.root = root
        self.text = text
    }

    /// Parses a scope; `fields` are the scope fields it may name (the scope root's `scope` in the
    /// schema). A mistake is reported with its column.
    public init(parsing text: String, fields: [String]) throws(ScopeError) {
        guard text.count <= Self.maxLength else {
            throw ScopeError(column: Self.maxLength + 1, message: "a scope is at most \(Self.maxLength) characters long", text: String(text.prefix(60)))
        }
        var parser = ScopeParser(text: text, fields: fields)
        root = try parser.parseScope()
        self.text = text
    }

    /// Whether this scope holds everything (no filtering needed).
    public var isAll: Bool { root == .all }

    /// Whether an account with these scope-field values is in the scope of `user`. A field
    /// with no value matches no literal. Comparison ignores case and surrounding spaces.
    public func admits(_ values: [String: String], user: String) -> Bool {
        Self.evaluate(root, values, user: Self.fold(user))
    }

    static func evaluate(_ node: Node, _ values: [String: String], user: String) -> Bool {
        switch node {
        case .all:
            return true
        case .equals(let field, let value, let negated):
            let matches = values[field].map { fold($0) == resolve(value, user: user) } ?? false
            return matches != negated
        case .member(let field, let list):
            guard let actual = values[field].map(fold) else { return false }
            return list.contains { resolve($0, user: user) == actual }
        case .and(let a, let b):
            return evaluate(a, values, user: user) && evaluate(b, values, user: user)
        case .or(let a, let b):
            return evaluate(a, values, user: user) || evaluate(b, values, user: user)
        }
    }

    static func resolve(_ value: Value, user: String) -> String {
        switch value {
        case .literal(let text): fold(text)
        case .me: user
        }
    }

    /// Case- and space-insensitive form for comparison (`Almaty` = ` almaty`).
    static func fold(_ text: String) -> String {
        text.trimmingSpaces().lowercased()
    }

    /// The union of scopes (a branch server receives the union of its users' scopes): each
    /// keeps its own `me`, so the union is evaluated per scope.
    public static func union(_ scopes: [(scope: Scope, user: String)]) -> ScopeUnion { ScopeUnion(members: scopes) }

    public var description: String { text }
}

/// Several users' scopes at once: an account is in it when it is in any of them.
public struct ScopeUnion: Sendable {
    let members: [(scope: Scope, user: String)]

    /// Whether some member admits the account.
    public func admits(_ values: [String: String]) -> Bool {
        members.contains { $0.scope.admits(values, user: $0.user) }
    }

    /// Whether some member holds everything.
    public var isAll: Bool { members.contains { $0.scope.isAll } }
}

/// A scope that cannot be parsed: the column (1-based) of the mistake and what was expected.
public struct ScopeError: Error, Hashable, Sendable, CustomStringConvertible {
    public let column: Int
    public let message: String
    /// The scope as given.
    public let text: String

    public var description: String {
        "The scope \"\(text)\" is wrong at column \(column): \(message)."
    }
}

/// A recursive-descent parser over characters, keeping columns for errors.
struct ScopeParser {
    enum Token: Equatable {
        case word(String)
        case quoted(String)
        case symbol(String)
        case end
    }

    let text: String
    let fields: [String]
    let characters: [Character]
    var index = 0
    var depth = 0

    init(text: String, fields: [String]) {
        self.text = text
        self.fields = fields
        self.characters = Array(text)
    }

    func error(_ message: String, at column: Int? = nil) -> ScopeError {
        ScopeError(column: column ?? (index + 1), message: message, text: text)
    }

    mutating func skipSpaces() {
        while index < characters.count, characters[index].isWhitespace { index += 1 }
    }

    /// The next token and the column it starts at, without consuming it.
    mutating func peek() throws(ScopeError) -> (Token, Int) {
        let saved = index
        let result = try next()
        index = saved
        return result
    }

    mutating func next() throws(ScopeError) -> (Token, Int) {
        skipSpaces()
        let column = index + 1
        guard index < characters.count else { return (.end, column) }
        let c = characters[index]
        if c == "(" || c == ")" || c == "," || c == "=" {
            index += 1
            return (.symbol(String(c)), column)
        }
        if c == "!" {
            guard index + 1 < characters.count, characters[index + 1] == "=" else { throw error("'!' must be followed by '=' (not equal)") }
            index += 2
            return (.symbol("!="), column)
        }
        if c == "\"" || c == "'" {
            index += 1
            var value = ""
            while index < characters.count, characters[index] != c {
                value.append(characters[index])
                index += 1
            }
            guard index < characters.count else { throw error("the quoted value has no closing \(c)", at: column) }
            index += 1
            return (.quoted(value), column)
        }
        guard Self.isWordCharacter(c) else { throw error("'\(c)' cannot appear here; quote a value that holds it") }
        var word = ""
        while index < characters.count, Self.isWordCharacter(characters[index]) {
            word.append(characters[index])
            index += 1
        }
        return (.word(word), column)
    }

    static func isWordCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_" || c == "-" || c == "." || c == "@" || c == "ʻ" || c == "ʼ" || c == "’"
    }

    static func isKeyword(_ word: String, _ keyword: String) -> Bool { word.lowercased() == keyword }

    mutating func parseScope() throws(ScopeError) -> Scope.Node {
        let (first, _) = try peek()
        if case .word(let w) = first, Self.isKeyword(w, "all") {
            _ = try next()
            let (after, column) = try next()
            guard after == .end else { throw error("nothing may follow 'all'", at: column) }
            return .all
        }
        if first == .end { throw error("the scope is empty; write all, or an expression such as owner = me") }
        let node = try parseOr()
        let (rest, column) = try next()
        guard rest == .end else { throw error("expected 'and', 'or' or the end, found \(Self.show(rest))", at: column) }
        return node
    }

    mutating func parseOr() throws(ScopeError) -> Scope.Node {
        var node = try parseAnd()
        while case (.word(let w), _) = try peek(), Self.isKeyword(w, "or") {
            _ = try next()
            node = .or(node, try parseAnd())
        }
        return node
    }

    mutating func parseAnd() throws(ScopeError) -> Scope.Node {
        var node = try parseTerm()
        while case (.word(let w), _) = try peek(), Self.isKeyword(w, "and") {
            _ = try next()
            node = .and(node, try parseTerm())
        }
        return node
    }

    mutating func parseTerm() throws(ScopeError) -> Scope.Node {
        let (token, column) = try next()
        switch token {
        case .symbol("("):
            depth += 1
            guard depth <= Scope.maxDepth else { throw error("parentheses nest deeper than \(Scope.maxDepth)", at: column) }
            let inner = try parseOr()
            let (close, at) = try next()
            guard close == .symbol(")") else { throw error("expected ')' to close the '(' at column \(column), found \(Self.show(close))", at: at) }
            depth -= 1
            return inner
        case .word(let field):
            if Self.isKeyword(field, "all") { throw error("'all' stands alone: it cannot be combined", at: column) }
            guard fields.contains(field) else {
                throw error("'\(field)' is not a scope field; the scope fields are \(fields.joined(separator: ", "))", at: column)
            }
            let (op, opColumn) = try next()
            switch op {
            case .symbol("="), .symbol("!="):
                let value = try parseValue(after: op == .symbol("=") ? "=" : "!=")
                return .equals(field: field, value: value, negated: op == .symbol("!="))
            case .word(let w) where Self.isKeyword(w, "in"):
                let (open, at) = try next()
                guard open == .symbol("(") else { throw error("expected '(' after 'in', found \(Self.show(open))", at: at) }
                var values = [try parseValue(after: "(")]
                while true {
                    let (sep, sepColumn) = try next()
                    if sep == .symbol(")") { break }
                    guard sep == .symbol(",") else { throw error("expected ',' or ')' in the list, found \(Self.show(sep))", at: sepColumn) }
                    values.append(try parseValue(after: ","))
                }
                return .member(field: field, values: values)
            default:
                throw error("expected '=', '!=' or 'in' after \(field), found \(Self.show(op))", at: opColumn)
            }
        default:
            throw error("expected a scope field (\(fields.joined(separator: ", "))) or '(', found \(Self.show(token))", at: column)
        }
    }

    mutating func parseValue(after what: String) throws(ScopeError) -> Scope.Value {
        let (token, column) = try next()
        switch token {
        case .quoted(let value): return .literal(value)
        case .word(let w) where Self.isKeyword(w, "me"): return .me
        case .word(let w) where Self.isKeyword(w, "and") || Self.isKeyword(w, "or") || Self.isKeyword(w, "in"):
            throw error("expected a value after '\(what)', found the keyword '\(w)'; quote it if it is a value", at: column)
        case .word(let w): return .literal(w)
        default: throw error("expected a value after '\(what)', found \(Self.show(token))", at: column)
        }
    }

    static func show(_ token: Token) -> String {
        switch token {
        case .word(let w): "'\(w)'"
        case .quoted(let q): "\"\(q)\""
        case .symbol(let s): "'\(s)'"
        case .end: "the end"
        }
    }
}
