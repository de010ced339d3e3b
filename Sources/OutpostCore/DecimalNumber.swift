/// An exact decimal number (money, quantities): never a binary float.
///
/// Kept in a normal form, so equal numbers have one encoding: no leading zeros, no trailing
/// fractional zeros, no `-0`. `"10.50"` is stored as `"10.5"`; presentation chooses the scale.
public struct DecimalNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// True for numbers below zero.
    public let isNegative: Bool
    /// Digits before the point, without leading zeros ("0" for none).
    public let integerDigits: String
    /// Digits after the point, without trailing zeros (may be empty).
    public let fractionDigits: String

    /// Parses `-?digits(.digits)?` (at most 38 significant digits); throws on anything else.
    public init(_ text: String) throws(CoreError) {
        var body = Substring(text)
        var negative = false
        if body.first == "-" { negative = true; body = body.dropFirst() } else if body.first == "+" { body = body.dropFirst() }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        guard !parts.isEmpty, !parts[0].isEmpty, parts[0].allSatisfy(isDigit),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy(isDigit))
        else { throw CoreError.malformed("decimal number", text) }
        var integer = String(parts[0].drop { $0 == "0" })
        if integer.isEmpty { integer = "0" }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        while fraction.last == "0" { fraction.removeLast() }
        guard integer.count + fraction.count <= 40 else { throw CoreError.malformed("decimal number", text) }
        self.isNegative = negative && !(integer == "0" && fraction.isEmpty)
        self.integerDigits = integer
        self.fractionDigits = fraction
    }

    public var description: String {
        (isNegative ? "-" : "") + integerDigits + (fractionDigits.isEmpty ? "" : "." + fractionDigits)
    }

    public static func < (lhs: DecimalNumber, rhs: DecimalNumber) -> Bool {
        if lhs.isNegative != rhs.isNegative { return lhs.isNegative }
        let magnitudeLess = compareMagnitude(lhs, rhs)
        guard let less = magnitudeLess else { return false }
        return lhs.isNegative ? !less : less
    }

    /// nil when equal, true when |lhs| < |rhs|.
    private static func compareMagnitude(_ lhs: DecimalNumber, _ rhs: DecimalNumber) -> Bool? {
        if lhs.integerDigits.count != rhs.integerDigits.count {
            return lhs.integerDigits.count < rhs.integerDigits.count
        }
        if lhs.integerDigits != rhs.integerDigits { return lhs.integerDigits < rhs.integerDigits }
        let width = max(lhs.fractionDigits.count, rhs.fractionDigits.count)
        let l = lhs.fractionDigits + String(repeating: "0", count: width - lhs.fractionDigits.count)
        let r = rhs.fractionDigits + String(repeating: "0", count: width - rhs.fractionDigits.count)
        return l == r ? nil : l < r
    }
}
