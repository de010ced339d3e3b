import OutpostSchema
import Testing

/// The scope grammar of `protocol/scopes.md`: what it admits, and where a mistake is.
struct ScopeTests {
    let fields = ["owner", "branch", "region"]

    func admits(_ scope: String, _ values: [String: String], user: String = "aigerim") throws -> Bool {
        try Scope(parsing: scope, fields: fields).admits(values, user: user)
    }

    @Test func expressionsAdmitWhatTheySay() throws {
        let almatyMine = ["owner": "aigerim", "branch": "Almaty", "region": "South"]
        let tashkentOther = ["owner": "bolor", "branch": "Tashkent", "region": "East"]
        #expect(try admits("all", tashkentOther))
        #expect(try admits("owner = me", almatyMine))
        #expect(try !admits("owner = me", tashkentOther))
        #expect(try admits("owner = me", tashkentOther, user: "Bolor"), "me is the user, compared without case")
        #expect(try admits("branch = almaty", almatyMine), "values compare without case")
        #expect(try admits("branch=ALMATY", almatyMine))
        #expect(try admits("region in (North, East)", tashkentOther))
        #expect(try !admits("region in (North, East)", almatyMine))
        #expect(try admits("branch = Almaty or region in (East)", tashkentOther))
        #expect(try !admits("branch = Almaty and owner = bolor", almatyMine))
        #expect(try admits("branch != Tashkent", almatyMine))
        #expect(try admits("(owner = me or owner = bolor) and branch = \"Almaty\"", almatyMine))
        #expect(try !admits("(owner = me or owner = bolor) and branch = 'Almaty'", tashkentOther))
        #expect(try admits("branch = \"Ust-Kamenogorsk city\"", ["branch": "ust-kamenogorsk city"]))
        #expect(try !admits("owner = me", [:]), "a field with no value matches no literal")
        #expect(try admits("owner != bolor", [:]), "and so it is not equal to one")
        #expect(try admits("branch = Тошкент", ["branch": "тошкент"]), "Cyrillic values fold case too")
    }

    @Test func andBindsTighterThanOr() throws {
        // a or (b and c): true when a alone holds.
        #expect(try admits("owner = me or branch = X and region = Y", ["owner": "aigerim"]))
        #expect(try !admits("(owner = me or branch = X) and region = Y", ["owner": "aigerim"]))
    }

    @Test(arguments: [
        ("", 1, "empty"),
        ("owner", 6, "expected '=', '!=' or 'in'"),
        ("owner =", 8, "expected a value after '='"),
        ("owner = me and", 15, "expected a scope field"),
        ("city = Almaty", 1, "'city' is not a scope field"),
        ("owner = me or all", 15, "'all' stands alone"),
        ("all and owner = me", 5, "nothing may follow 'all'"),
        ("region in (North East)", 18, "expected ',' or ')'"),
        ("region in North", 11, "expected '(' after 'in'"),
        ("(owner = me", 12, "expected ')' to close the '(' at column 1"),
        ("owner = me)", 11, "expected 'and', 'or' or the end"),
        ("branch = \"Almaty", 10, "no closing"),
        ("owner ! me", 7, "'!' must be followed by '='"),
        ("owner = me; drop", 11, "';' cannot appear here"),
        ("owner = and", 9, "the keyword 'and'"),
    ])
    func aMistakeIsReportedWhereItIs(scope: String, column: Int, message: String) {
        do {
            _ = try Scope(parsing: scope, fields: fields)
            Issue.record("\(scope) was accepted")
        } catch {
            #expect(error.column == column, "\(error)")
            #expect(error.message.contains(message) || error.description.contains(message), "\(error)")
        }
    }

    @Test func sizeAndDepthAreBounded() {
        #expect(throws: ScopeError.self) { try Scope(parsing: String(repeating: "(", count: 40) + "owner = me" + String(repeating: ")", count: 40), fields: fields) }
        #expect(throws: ScopeError.self) { try Scope(parsing: "owner in (" + Array(repeating: "a", count: 600).joined(separator: ",") + ")", fields: fields) }
        #expect(throws: Never.self) { try Scope(parsing: String(repeating: "(", count: 30) + "owner = me" + String(repeating: ")", count: 30), fields: fields) }
    }

    @Test func aUnionAdmitsWhatAnyMemberAdmits() throws {
        let union = Scope.union([(try Scope(parsing: "owner = me", fields: fields), "aigerim"),
                                 (try Scope(parsing: "owner = me", fields: fields), "dana")])
        #expect(union.admits(["owner": "dana"]) && union.admits(["owner": "aigerim"]) && !union.admits(["owner": "bolor"]))
        #expect(!union.isAll)
    }

    @Test func theCRMSchemaDecidesScopesOnAccounts() throws {
        #expect(Schema.crm.scopeRoot?.name == "accounts")
        #expect(try Schema.crm.scope("owner = me and branch = Almaty").admits(["owner": "x", "branch": "almaty"], user: "X"))
    }
}
