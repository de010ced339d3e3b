import Foundation
import OutpostCore
import OutpostSchema
import Testing

struct SchemaTests {
    @Test func defaultCRMSchemaDeclaresTheContractFields() throws {
        let crm = Schema.crm
        #expect(crm.collections.map(\.name) == ["accounts", "contacts", "deals", "activities", "tasks", "products", "price_list"])
        let deals = try crm.collection("deals")
        #expect(deals.field("stage")?.rule == .manual)
        #expect(deals.groups.first?.members == ["amount", "currency"])
        #expect(deals.parentField == "account_id")
        let accounts = try crm.collection("accounts")
        #expect(accounts.field("tags")?.rule == .set)
        #expect(accounts.scopeFields == ["owner", "branch", "region"])
        #expect(accounts.duplicateKeys.map(\.name) == ["tax_id", "phone", "email", "name_city"])
        #expect(try crm.collection("products").isReferenceData)
    }

    @Test(arguments: [
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a","fields":[{"name":"x","type":"float"}]}]}"#, "has type 'float'"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a","fields":[{"name":"x","type":"string","rule":"counter"}]}]}"#, "cannot use rule counter"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a","fields":[{"name":"x","type":"reference","collection":"nowhere"}]}]}"#, "not declared"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a","fields":[{"name":"x","type":"string"}],"groups":[{"name":"g","members":["x","y"]}]}]}"#, "names y, which is not a field"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"A","fields":[]}]}"#, "must start with a-z"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a","fields":[{"name":"id","type":"string"}]}]}"#, "reserved"),
        (#"{"format":"outpost-schema/2","version":1,"collections":[]}"#, "format is"),
        (#"{"format":"outpost-schema/1","version":1,"collections":[{"name":"a"}]}"#, "lacks \"fields\""),
        (#"{"format": "#, "not valid JSON"),
    ])
    func invalidSchemasAreRefusedWithTheReason(json: String, reason: String) {
        #expect {
            _ = try Schema(json: Data(json.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func parsesWhatUsersType() throws {
        let deals = try Schema.crm.collection("deals")
        #expect(try deals.parse("1250.50", for: "amount") == .decimal(try DecimalNumber("1250.5")))
        #expect(try deals.parse("2026-12-01", for: "expected_close") == .date("2026-12-01"))
        #expect(try deals.parse("", for: "title") == .null)
        #expect(throws: SchemaError.self) { try deals.parse("soon", for: "expected_close") }
        #expect(throws: SchemaError.self) { try deals.parse("12.5", for: "probability") }
        let accounts = try Schema.crm.collection("accounts")
        #expect(try accounts.parse(#"vip, a\,b ,x\\y"#, for: "tags") == .makeSet(["vip", "a,b", #"x\y"#]))
        #expect(throws: SchemaError.self) { try accounts.parse("x", for: "nickname") }
        let tasks = try Schema.crm.collection("tasks")
        #expect(try tasks.parse("2026-11-24T09:30:00Z", for: "due_at") == .timestamp(1_795_512_600_000))
        #expect(try tasks.parse("2026-11-24 14:30+05:00", for: "due_at") == .timestamp(1_795_512_600_000))
    }

    @Test func formattedValuesParseBack() throws {
        let accounts = try Schema.crm.collection("accounts")
        let tags = FieldValue.makeSet(["a,b", #"c\d"#, "Улаанбаатар"])
        #expect(try accounts.parse(CollectionSpec.format(tags), for: "tags") == tags)
        let tasks = try Schema.crm.collection("tasks")
        for ms: Int64 in [0, 1_764_000_000_123, 951_782_400_000, -86_400_000] {
            #expect(try tasks.parse(CollectionSpec.format(.timestamp(ms)), for: "due_at") == .timestamp(ms))
        }
    }

    @Test func pickListsAreEnforcedOnlyWhenStrict() throws {
        let deals = try Schema.crm.collection("deals")
        #expect(throws: SchemaError.self) { try deals.check(.string("maybe"), for: "stage") }
        try deals.check(.string("maybe"), for: "stage", strict: false)
        #expect(throws: SchemaError.self) { try deals.check(.integer(3), for: "stage", strict: false) }
    }

    @Test func duplicateKeysNormalize() {
        #expect(DuplicateKey.Normalization.phone.apply("+7 (701) 555-12-34") == "7015551234")
        #expect(DuplicateKey.Normalization.email.apply("  Aigerim@Example.KZ ") == "aigerim@example.kz")
        #expect(DuplicateKey.Normalization.text.apply("ТОО «Алтын-Ай»,  Алматы") == "altin ai almati")
        #expect(DuplicateKey.Normalization.text.apply("Altyn-Ai TOO, Almaty") == "altin ai almati")
        #expect(DuplicateKey.Normalization.alnum.apply("123-456 789") == "123456789")
    }
}
