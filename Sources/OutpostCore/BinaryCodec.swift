/// The compact binary form of record states and changes, used by storage and the wire.
///
/// Each blob is self-contained: a string table (replica ids, users, devices, keys), a stamp
/// table (dot + HLC + author, shared by every entry of the same write), then the fields.
/// A field whose context is exactly the highest dot per replica among its entries (the usual
/// case) stores no context. The canonical JSON (`protocol/merge.md`) remains the reference.
///
/// Values may be *elided*: the encoder leaves out a value the caller can restore (storage omits
/// a field's visible value, which the plain table already holds) and the decoder asks for it.
public enum BinaryCodec {
    static let version: UInt8 = 1

    /// Encodes a record state. `elide(key, value)` returns true for values the caller will restore.
    public static func encode(_ state: RecordState, elide: (String, FieldValue) -> Bool = { _, _ in false }) -> [UInt8] {
        var w = Writer()
        w.collectStamps(state.presence)
        for key in state.fields.keys.sorted() { w.collectStamps(state.fields[key]!) }
        var body = Writer(sharing: w)
        body.fieldState(state.presence, key: nil, elide: elide)
        body.varint(UInt64(state.fields.count))
        for key in state.fields.keys.sorted() {
            body.string(key)
            body.fieldState(state.fields[key]!, key: key, elide: elide)
        }
        return w.finish(body: body)
    }

    /// Decodes a record state; `restore(key)` supplies elided values.
    public static func decodeState(_ bytes: [UInt8], restore: (String) -> FieldValue? = { _ in nil }) throws(CoreError) -> RecordState {
        var r = try Reader(bytes)
        let presence = try r.fieldState(key: nil, restore: restore)
        var fields: [String: FieldState] = [:]
        for _ in 0..<(try r.count()) {
            let key = try r.string()
            fields[key] = try r.fieldState(key: key, restore: restore)
        }
        try r.expectEnd()
        return RecordState(fields: fields, presence: presence)
    }

    /// Encodes a change (for the change feed and the wire).
    public static func encode(_ change: Change) -> [UInt8] {
        var w = Writer()
        w.stampIndex(FieldEntry(dot: change.dot, hlc: change.hlc, author: change.author, value: .null))
        w.collectStamps(change.presence)
        for key in change.fields.keys.sorted() { w.collectStamps(change.fields[key]!) }
        var body = Writer(sharing: w)
        body.string(change.collection)
        body.string(change.recordID)
        body.fieldState(change.presence, key: nil, elide: { _, _ in false })
        body.varint(UInt64(change.fields.count))
        for key in change.fields.keys.sorted() {
            body.string(key)
            body.fieldState(change.fields[key]!, key: key, elide: { _, _ in false })
        }
        return w.finish(body: body)
    }

    /// Decodes a change and checks it is consistent.
    public static func decodeChange(_ bytes: [UInt8]) throws(CoreError) -> Change {
        var r = try Reader(bytes)
        guard let first = r.stamps.first else { throw CoreError.malformed("change", "no stamp") }
        let collection = try r.string()
        let recordID = try r.string()
        let presence = try r.fieldState(key: nil, restore: { _ in nil })
        var fields: [String: FieldState] = [:]
        for _ in 0..<(try r.count()) {
            let key = try r.string()
            fields[key] = try r.fieldState(key: key, restore: { _ in nil })
        }
        try r.expectEnd()
        return try Change(collection: collection, recordID: recordID, dot: first.dot, hlc: first.hlc, author: first.author,
                          fields: fields, presence: presence)
    }

    // MARK: - Writing

    struct StampKey: Hashable {
        let dot: Dot
        let hlc: HLCTimestamp
        let author: Author
    }

    struct Writer {
        var bytes: [UInt8] = []
        var strings: [String] = []
        var stringIndex: [String: Int] = [:]
        var stamps: [StampKey] = []
        var stampIndexes: [StampKey: Int] = [:]

        init() {}

        /// A body writer that shares the header's tables (strings may still be added).
        init(sharing header: Writer) {
            strings = header.strings
            stringIndex = header.stringIndex
            stamps = header.stamps
            stampIndexes = header.stampIndexes
        }

        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }

        mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

        mutating func intern(_ s: String) -> Int {
            if let i = stringIndex[s] { return i }
            strings.append(s)
            stringIndex[s] = strings.count - 1
            return strings.count - 1
        }

        mutating func string(_ s: String) { varint(UInt64(intern(s))) }

        mutating func rawString(_ s: String) {
            varint(UInt64(s.utf8.count))
            bytes.append(contentsOf: s.utf8)
        }

        @discardableResult
        mutating func stampIndex(_ e: FieldEntry) -> Int {
            let key = StampKey(dot: e.dot, hlc: e.hlc, author: e.author)
            if let i = stampIndexes[key] { return i }
            stamps.append(key)
            stampIndexes[key] = stamps.count - 1
            _ = intern(e.dot.replica.rawValue)
            _ = intern(e.author.user)
            _ = intern(e.author.device)
            return stamps.count - 1
        }

        mutating func collectStamps(_ state: FieldState) {
            for e in state.sortedEntries { stampIndex(e) }
            for (replica, _) in state.context.sorted { _ = intern(replica.rawValue) }
        }

        mutating func fieldState(_ state: FieldState, key: String?, elide: (String, FieldValue) -> Bool) {
            let entries = state.sortedEntries
            varint(UInt64(entries.count))
            for e in entries {
                varint(UInt64(stampIndexes[StampKey(dot: e.dot, hlc: e.hlc, author: e.author)]!))
                if let key, entries.count == 1, elide(key, e.value) {
                    bytes.append(Tag.elided.rawValue)
                } else {
                    value(e.value)
                }
            }
            var implicit = VersionVector()
            for e in entries { implicit.record(e.dot) }
            if implicit == state.context {
                bytes.append(0)
            } else {
                bytes.append(1)
                let pairs = state.context.sorted
                varint(UInt64(pairs.count))
                for (replica, counter) in pairs {
                    string(replica.rawValue)
                    varint(counter)
                }
            }
        }

        mutating func value(_ v: FieldValue) {
            switch v {
            case .null: bytes.append(Tag.null.rawValue)
            case .bool(let b): bytes.append(b ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
            case .integer(let n): bytes.append(Tag.integer.rawValue); zigzag(n)
            case .decimal(let d): bytes.append(Tag.decimal.rawValue); rawString(d.description)
            case .string(let s): bytes.append(Tag.string.rawValue); rawString(s)
            case .date(let s): bytes.append(Tag.date.rawValue); rawString(s)
            case .timestamp(let t): bytes.append(Tag.timestamp.rawValue); zigzag(t)
            case .uuid(let u): bytes.append(Tag.uuid.rawValue); uuid(u)
            case .reference(let u): bytes.append(Tag.reference.rawValue); uuid(u)
            case .set(let items):
                bytes.append(Tag.set.rawValue)
                varint(UInt64(items.count))
                for i in items { rawString(i) }
            case .group(let parts):
                bytes.append(Tag.group.rawValue)
                varint(UInt64(parts.count))
                for k in parts.keys.sorted() {
                    string(k)
                    value(parts[k]!)
                }
            }
        }

        mutating func uuid(_ text: String) {
            // 36 characters become 16 bytes.
            var nibbles: [UInt8] = []
            for c in text.utf8 where c != 0x2D { nibbles.append(c <= 0x39 ? c - 0x30 : c - 0x61 + 10) }
            for i in stride(from: 0, to: 32, by: 2) { bytes.append(nibbles[i] << 4 | nibbles[i + 1]) }
        }

        /// Header (version, strings, stamps) followed by the body.
        func finish(body: Writer) -> [UInt8] {
            var head = Writer()
            head.bytes.append(BinaryCodec.version)
            head.varint(UInt64(body.strings.count))
            for s in body.strings { head.rawString(s) }
            head.varint(UInt64(body.stamps.count))
            var last: UInt64 = 0
            for s in body.stamps {
                head.varint(UInt64(body.stringIndex[s.dot.replica.rawValue]!))
                head.varint(s.dot.counter)
                // Wall times of one record's writes are close: store each as a difference.
                head.zigzag(Int64(bitPattern: s.hlc.wallMillis &- last))
                last = s.hlc.wallMillis
                head.varint(UInt64(s.hlc.logical))
                head.varint(UInt64(body.stringIndex[s.author.user]!))
                head.varint(UInt64(body.stringIndex[s.author.device]!))
            }
            return head.bytes + body.bytes
        }
    }

    enum Tag: UInt8 {
        case null = 0, boolFalse, boolTrue, integer, decimal, string, date, timestamp, uuid, reference, set, group, elided
    }

    // MARK: - Reading

    struct Reader {
        let bytes: [UInt8]
        var at = 0
        var strings: [String] = []
        var stamps: [(dot: Dot, hlc: HLCTimestamp, author: Author)] = []

        init(_ bytes: [UInt8]) throws(CoreError) {
            self.bytes = bytes
            guard try byte() == BinaryCodec.version else { throw CoreError.malformed("binary record", "unknown version") }
            for _ in 0..<(try count()) { strings.append(try rawString()) }
            var last: UInt64 = 0
            for _ in 0..<(try count()) {
                let replica = try ReplicaID(try stringRef())
                let counter = try varint()
                guard counter > 0 else { throw CoreError.malformed("binary record", "zero counter") }
                last = last &+ UInt64(bitPattern: try zigzag())
                let logical = try varint()
                guard logical <= UInt64(UInt32.max) else { throw CoreError.malformed("binary record", "logical clock") }
                let author = Author(user: try stringRef(), device: try stringRef())
                stamps.append((Dot(replica, counter), HLCTimestamp(wallMillis: last, logical: UInt32(logical)), author))
            }
        }

        mutating func byte() throws(CoreError) -> UInt8 {
            guard at < bytes.count else { throw CoreError.malformed("binary record", "truncated") }
            defer { at += 1 }
            return bytes[at]
        }

        mutating func varint() throws(CoreError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw CoreError.malformed("binary record", "varint too long") }
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
        }

        mutating func count() throws(CoreError) -> Int {
            let n = try varint()
            // Every counted item takes at least one byte: a larger count is a corrupt or hostile blob.
            guard n <= UInt64(bytes.count - at) else { throw CoreError.malformed("binary record", "count beyond end") }
            return Int(n)
        }

        mutating func zigzag() throws(CoreError) -> Int64 {
            let u = try varint()
            return Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
        }

        mutating func rawString() throws(CoreError) -> String {
            let n = try count()
            guard at + n <= bytes.count else { throw CoreError.malformed("binary record", "truncated string") }
            defer { at += n }
            guard let s = String(validating: bytes[at..<(at + n)], as: UTF8.self) else {
                throw CoreError.malformed("binary record", "invalid UTF-8")
            }
            return s
        }

        mutating func stringRef() throws(CoreError) -> String {
            let i = try varint()
            guard i < UInt64(strings.count) else { throw CoreError.malformed("binary record", "string index") }
            return strings[Int(i)]
        }

        mutating func string() throws(CoreError) -> String { try stringRef() }

        mutating func fieldState(key: String?, restore: (String) -> FieldValue?) throws(CoreError) -> FieldState {
            var entries: [FieldEntry] = []
            var implicit = VersionVector()
            for _ in 0..<(try count()) {
                let i = try varint()
                guard i < UInt64(stamps.count) else { throw CoreError.malformed("binary record", "stamp index") }
                let s = stamps[Int(i)]
                let v: FieldValue
                if at < bytes.count, bytes[at] == Tag.elided.rawValue {
                    at += 1
                    guard let key, let restored = restore(key) else { throw CoreError.malformed("binary record", "elided value not restorable") }
                    v = restored
                } else {
                    v = try value()
                }
                entries.append(FieldEntry(dot: s.dot, hlc: s.hlc, author: s.author, value: v))
                implicit.record(s.dot)
            }
            let context: VersionVector
            switch try byte() {
            case 0: context = implicit
            case 1:
                var counters: [ReplicaID: UInt64] = [:]
                for _ in 0..<(try count()) { counters[try ReplicaID(try stringRef())] = try varint() }
                context = VersionVector(counters)
            default: throw CoreError.malformed("binary record", "context mode")
            }
            return try FieldState(entries: entries, context: context)
        }

        mutating func value() throws(CoreError) -> FieldValue {
            guard let tag = Tag(rawValue: try byte()) else { throw CoreError.malformed("binary record", "value tag") }
            switch tag {
            case .null: return .null
            case .boolFalse: return .bool(false)
            case .boolTrue: return .bool(true)
            case .integer: return .integer(try zigzag())
            case .decimal: return .decimal(try DecimalNumber(try rawString()))
            case .string: return .string(try rawString())
            case .date: return .date(try rawString())
            case .timestamp: return .timestamp(try zigzag())
            case .uuid: return .uuid(try uuid())
            case .reference: return .reference(try uuid())
            case .set:
                var items: [String] = []
                for _ in 0..<(try count()) { items.append(try rawString()) }
                return FieldValue.makeSet(items)
            case .group:
                var parts: [String: FieldValue] = [:]
                for _ in 0..<(try count()) {
                    let k = try stringRef()
                    parts[k] = try value()
                }
                return .group(parts)
            case .elided: throw CoreError.malformed("binary record", "elided value inside a value")
            }
        }

        mutating func uuid() throws(CoreError) -> String {
            guard at + 16 <= bytes.count else { throw CoreError.malformed("binary record", "truncated uuid") }
            let hex = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            for (i, b) in bytes[at..<(at + 16)].enumerated() {
                if [4, 6, 8, 10].contains(i) { out.append(0x2D) }
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
            at += 16
            return String(decoding: out, as: UTF8.self)
        }

        func expectEnd() throws(CoreError) {
            guard at == bytes.count else { throw CoreError.malformed("binary record", "trailing bytes") }
        }
    }
}
