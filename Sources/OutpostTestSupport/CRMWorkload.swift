import OutpostCore
import OutpostSchema

/// A realistic stream of CRM writes for benchmarks: accounts with contacts, deals, activities
/// and tasks, mostly creates with some edits, in Kazakh, Mongolian, Vietnamese, Hebrew and Uzbek.
public struct CRMWorkload {
    /// The changes, in the order they were written.
    public private(set) var changes: [Change] = []
    /// Each record's state after all changes, by `collection/id`.
    public private(set) var states: [String: RecordState] = [:]

    private var rng: SplitMix64
    private var counter: UInt64 = 0
    private var wall: UInt64 = 1_764_000_000_000
    private let replica: ReplicaID
    private let author: Author
    private var accounts: [String] = []
    private var editable: [(String, String)] = []

    /// Generates `count` changes written by `replica`.
    public init(count: Int, replica: String = "bench-source", seed: UInt64 = 42) throws {
        rng = SplitMix64(seed: seed)
        self.replica = try ReplicaID(replica)
        author = Author(user: "aigerim", device: "laptop-\(replica)")
        while changes.count < count { try step() }
    }

    static let names = ["ТОО Алтын-Ай", "Тумэн ХХК", "Công ty TNHH Sao Mai", "אלון סחר בע\"מ", "Toshkent Savdo MChJ", "Acme Trading LLP"]
    static let cities = ["Алматы", "Улаанбаатар", "Hà Nội", "תל אביב", "Toshkent", "Астана"]

    private mutating func step() throws {
        let roll = Int.random(in: 0..<100, using: &rng)
        if accounts.isEmpty || roll < 15 {
            let n = accounts.count
            let id = try write("accounts", nil, [
                .set("name", .string("\(Self.names[n % Self.names.count]) \(n)")), .set("kind", .string("customer")),
                .set("tax_id", .string("\(100_000_000_000 + n)")), .set("phone", .string("+7 701 \(1_000_000 + n)")),
                .set("email", .string("info\(n)@example.kz")), .set("address", .string("ул. Абая, \(n % 200)")),
                .set("city", .string(Self.cities[n % Self.cities.count])), .set("region", .string("Алматинская")),
                .set("branch", .string("almaty")), .set("owner", .string("aigerim")), .set("tags", .makeSet(["vip"])),
                .set("status", .string("active")),
            ])
            accounts.append(id)
        } else if roll < 30 {
            _ = try write("contacts", nil, [
                .set("account_id", .reference(pickAccount())), .set("name", .string("Болор Бат")),
                .set("position", .string("Финансовый директор")), .set("phone", .string("+976 9911 \(Int.random(in: 1000...9999, using: &rng))")),
                .set("email", .string("bolor@example.mn")),
            ])
        } else if roll < 45 {
            _ = try write("deals", nil, [
                .set("account_id", .reference(pickAccount())), .set("title", .string("Поставка оборудования")),
                .set("stage", .string("lead")), .set("amount", .decimal(try DecimalNumber("\(Int.random(in: 1_000...9_000_000, using: &rng)).50"))),
                .set("currency", .string("KZT")), .set("expected_close", .date("2026-12-15")), .set("owner", .string("aigerim")),
                .set("probability", .integer(20)),
            ])
        } else if roll < 75 {
            _ = try write("activities", nil, [
                .set("account_id", .reference(pickAccount())), .set("kind", .string("call")),
                .set("at", .timestamp(Int64(wall))), .set("duration_min", .integer(Int64.random(in: 5...90, using: &rng))),
                .set("summary", .string("Обсудили условия поставки, клиент ждёт КП до пятницы")), .set("outcome", .string("КП отправить")),
            ])
        } else if roll < 85 {
            _ = try write("tasks", nil, [
                .set("title", .string("Перезвонить клиенту")), .set("due_at", .timestamp(Int64(wall + 86_400_000))),
                .set("assignee", .string("aigerim")), .set("status", .string("open")), .set("account_id", .reference(pickAccount())),
            ])
        } else {
            let (collection, id) = editable.randomElement(using: &rng)!
            let edit: [FieldWrite] = switch collection {
            case "deals": [.set("stage", .string(["qualified", "proposal", "negotiation"].randomElement(using: &rng)!)),
                           .set("probability", .integer(Int64.random(in: 20...90, using: &rng)))]
            case "accounts": [.set("phone", .string("+7 702 \(Int.random(in: 1_000_000...9_999_999, using: &rng))")), .add("tags", "export")]
            case "tasks": [.set("status", .string("done"))]
            default: [.set(collection == "contacts" ? "position" : "outcome", .string("Обновлено"))]
            }
            _ = try write(collection, id, edit)
        }
    }

    private mutating func pickAccount() -> String { accounts.randomElement(using: &rng)! }

    private mutating func write(_ collection: String, _ existing: String?, _ writes: [FieldWrite]) throws -> String {
        counter += 1
        wall += UInt64.random(in: 1...5_000, using: &rng)
        let id = existing ?? Self.uuid(counter)
        let key = "\(collection)/\(id)"
        let rules = try Schema.crm.collection(collection).rules
        let stamp = WriteStamp(dot: Dot(replica, counter), hlc: HLCTimestamp(wallMillis: wall), author: author)
        let state = states[key] ?? RecordState()
        let change = try state.write(writes, stamp: stamp, rules: rules, recordID: id)
        states[key] = state.applying(change)
        changes.append(change)
        if existing == nil { editable.append((collection, id)) }
        return id
    }

    /// A UUIDv7-shaped id that sorts by `n`.
    static func uuid(_ n: UInt64) -> String {
        let hex = String(n, radix: 16)
        let padded = String(repeating: "0", count: 20 - hex.count) + hex
        let p = Array(padded)
        return "01920000-" + String(p[0..<4]) + "-7" + String(p[5..<8]) + "-8" + String(p[9..<12]) + "-" + String(p[12..<20]) + "0000"
    }
}
