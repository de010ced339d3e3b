/// Prints benchmark figures as a readable table or as one JSON object.
enum Report {
    static func print(_ figures: [(String, Double)], json: Bool, title: String) {
        if json {
            let members = figures.map { "\"\($0.0)\":\(format($0.1))" }
            Swift.print("{" + members.joined(separator: ",") + "}")
        } else {
            Swift.print(title)
            let width = figures.map(\.0.count).max() ?? 0
            for (name, value) in figures {
                Swift.print("  " + name + String(repeating: " ", count: width - name.count) + "  " + format(value))
            }
        }
    }

    /// Whole numbers without a fraction, others with two decimals.
    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(Double(Int64(value * 100)) / 100)
    }
}
