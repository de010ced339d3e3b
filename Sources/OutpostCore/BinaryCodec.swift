/// The compact binary form of record states and changes, used by storage and the wire.
///
/// Each blob is self-contained but for an optional ``KeyTable``: a string table (replica ids,
/// users, devices, keys the table does not hold), a stamp table (dot + HLC + author, shared by
/// every entry of the same write), then the fields. A field whose context is exactly the highest
/// dot per replica among its entries (the usual case) stores no context. The canonical JSON
/// (`protocol/merge.md`) remains the reference.
///
/// Values may be *elided*: the encoder leaves out a value the caller can restore (storage omits
/// a field's visible value, which the plain table already holds) and the decoder asks for it.
///
/// - warning: A blob encoded with a key table decodes only with the same table. Storage keeps
///   the table derived from the schema in force and re-encodes every blob when the schema changes.
public enum BinaryCodec {
    static let version: UInt8 = 1

    /// Field and group names that blobs refer to by number instead of spelling them out.
    public struct KeyTable: Sendable {
        /// The names, in the order their numbers follow.
        public let names: [String]
        let index: [String: Int]

        /// Creates a table; the order is part of the encoding.
        public init(_ names: [String]) {
            self.names = names
            var index: [String: Int] = [:]
            for (i, n) in names.enumerated() where index[n] == nil { index[n] = i }
            self.index = index
        }

        /// No names: every key is spelled out.
        public static let empty = KeyTable([])
    }

    /// Encodes a record state. `elide(key, value)` returns true for values the caller will restore.
    public static func encode(_ state: RecordState, keys: KeyTable = .empty,
                              elide: (String, FieldValue) -> Bool = { _, _ in false }) -> [UInt8] {
        var w = Writer(keys: keys)
        let fieldKeys = state.fields.keys.sorted()
        w.collect(state.presence)
        for key in fieldKeys { w.collectKey(key); w.collect(state.fields[key]!) }
        w.fieldState(state.presence, key: nil, elide: elide)
        w.varint(UInt64(fieldKeys.count))
        for key in fieldKeys {
            w.key(key)
            w.fieldState(state.fields[key]!, key: key, elide: elide)
        }
        return w.finish()
    }

    /// Decodes a record state encoded with the same `keys`; `restore(key)` supplies elided values.
    public static func decodeState(_ bytes: [UInt8], keys: KeyTable = .empty,
                                   restore: (String) -> FieldValue? = { _ in nil }) throws(CoreError) -> RecordState {
        var r = try Reader(bytes, keys: keys)
        let presence = try r.fieldState(key: nil, restore: restore)
        var fields: [String: FieldState] = [:]
        for _ in 0..<(try r.count()) {
            let key = try r.key()
            fields[key] = try r.fieldState(key: key, restore: restore)
        }
        try r.expectEnd()
        return RecordState(fields: fields, presence: presence)
    }

    /// Encodes a change (for the change feed and the wire); changes never use a key table.
    public static func encode(_ change: Change) -> [UInt8] {
        var w = Writer(keys: .empty)
        _ = w.stamp(StampKey(dot: change.dot, hlc: change.hlc, author: change.author))
        let fieldKeys = change.fields.keys.sorted()
        w.collectString(change.collection)
        w.collectString(change.recordID)
        w.collect(change.presence)
        for key in fieldKeys { w.collectKey(key); w.collect(change.fields[key]!) }
        w.key(change.collection)
        w.key(change.recordID)
        w.fieldState(change.presence, key: nil, elide: { _, _ in false })
        w.varint(UInt64(fieldKeys.count))
        for key in fieldKeys {
            w.key(key)
            w.fieldState(change.fields[key]!, key: key, elide: { _, _ in false })
        }
        return w.finish()
    }

    /// Decodes a change and checks it is consistent.
    public static func decodeChange(_ bytes: [UInt8]) throws(CoreError) -> Change {
        var r = try Reader(bytes, keys: .empty)
        guard let first = r.stamps.first else { throw CoreError.malformed("change", "no stamp") }
        let collection = try r.key()
        let recordID = try r.key()
        let presence = try r.fieldState(key: nil, restore: { _ in nil })
        var fields: [String: FieldState] = [:]
        for _ in 0..<(try r.count()) {
            let key = try r.key()
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

    /// Two passes over the value: `collect…` fills the string and stamp tables, then the body
    /// is written with indexes into them. Tables are small, so lookups are linear until they grow.
    struct Writer {
        let keys: KeyTable
        var body: [UInt8] = []
        var strings: [String] = []
        var stringIndex: [String: Int] = [:]
        var stamps: [StampKey] = []
        var stampIndex: [StampKey: Int] = [:]
        static let linearLimit = 12

        init(keys: KeyTable) {
            self.keys = keys
            body.reserveCapacity(256)
        }

        func lookupString(_ s: String) -> Int? {
            strings.count <= Self.linearLimit ? strings.firstIndex(of: s) : stringIndex[s]
        }

        @discardableResult
        mutating func collectString(_ s: String) -> Int {
            if let i = lookupString(s) { return i }
            strings.append(s)
            if strings.count > Self.linearLimit {
                if stringIndex.isEmpty { for (i, t) in strings.enumerated() { stringIndex[t] = i } } else { stringIndex[s] = strings.count - 1 }
            }
            return strings.count - 1
        }

        mutating func collectKey(_ k: String) {
            if keys.index[k] == nil { collectString(k) }
        }

        func lookupStamp(_ k: StampKey) -> Int? {
            stamps.count <= Self.linearLimit ? stamps.firstIndex(of: k) : stampIndex[k]
        }

        mutating func stamp(_ k: StampKey) -> Int {
            if let i = lookupStamp(k) { return i }
            stamps.append(k)
            if stamps.count > Self.linearLimit {
                if stampIndex.isEmpty { for (i, t) in stamps.enumerated() { stampIndex[t] = i } } else { stampIndex[k] = stamps.count - 1 }
            }
            collectString(k.dot.replica.rawValue)
            collectString(k.author.user)
            collectString(k.author.device)
            return stamps.count - 1
        }

        mutating func collect(_ state: FieldState) {
            // Sorted, so that equal states encode to equal bytes.
            for e in state.entries.count == 1 ? Array(state.entries.values) : state.sortedEntries {
                _ = stamp(StampKey(dot: e.dot, hlc: e.hlc, author: e.author))
                if case .group(let parts) = e.value { for k in parts.keys.sorted() { collectKey(k) } }
            }
            for (replica, _) in state.context.sorted { collectString(replica.rawValue) }
        }

        mutating func varint(_ value: UInt64) { Self.varint(value, into: &body) }

        static func varint(_ value: UInt64, into out: inout [UInt8]) {
            var v = value
            while v >= 0x80 {
                out.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }

        mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

        /// A name: an even number for a key-table entry, an odd one for a string-table entry.
        mutating func key(_ k: String) {
            if let i = keys.index[k] { varint(UInt64(i) << 1) } else { varint(UInt64(lookupString(k)!) << 1 | 1) }
        }

        mutating func rawString(_ s: String) {
            var s = s
            s.withUTF8 { bytes in
                varint(UInt64(bytes.count))
                body.append(contentsOf: bytes)
            }
        }

        mutating func fieldState(_ state: FieldState, key: String?, elide: (String, FieldValue) -> Bool) {
            let entries = state.entries.count == 1 ? Array(state.entries.values) : state.sortedEntries
            varint(UInt64(entries.count))
            var implicit = VersionVector()
            for e in entries {
                varint(UInt64(lookupStamp(StampKey(dot: e.dot, hlc: e.hlc, author: e.author))!))
                if let key, entries.count == 1, elide(key, e.value) {
                    body.append(Tag.elided.rawValue)
                } else {
                    value(e.value)
                }
                implicit.record(e.dot)
            }
            if implicit == state.context {
                body.append(0)
            } else {
                body.append(1)
                let pairs = state.context.sorted
                varint(UInt64(pairs.count))
                for (replica, counter) in pairs {
                    varint(UInt64(lookupString(replica.rawValue)!))
                    varint(counter)
                }
            }
        }

        mutating func value(_ v: FieldValue) {
            switch v {
            case .null: body.append(Tag.null.rawValue)
            case .bool(let b): body.append(b ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
            case .integer(let n): body.append(Tag.integer.rawValue); zigzag(n)
            case .decimal(let d): body.append(Tag.decimal.rawValue); rawString(d.description)
            case .string(let s): body.append(Tag.string.rawValue); rawString(s)
            case .date(let s): body.append(Tag.date.rawValue); rawString(s)
            case .timestamp(let t): body.append(Tag.timestamp.rawValue); zigzag(t)
            case .uuid(let u): body.append(Tag.uuid.rawValue); uuid(u)
            case .reference(let u): body.append(Tag.reference.rawValue); uuid(u)
            case .set(let items):
                body.append(Tag.set.rawValue)
                varint(UInt64(items.count))
                for i in items { rawString(i) }
            case .group(let parts):
                body.append(Tag.group.rawValue)
                varint(UInt64(parts.count))
                for k in parts.keys.sorted() {
                    key(k)
                    value(parts[k]!)
                }
            }
        }

        mutating func uuid(_ text: String) {
            // 36 characters become 16 bytes.
            var high: UInt8 = 0
            var odd = false
            for c in text.utf8 where c != 0x2D {
                let nibble = c <= 0x39 ? c &- 0x30 : c &- 0x61 &+ 10
                if odd { body.append(high << 4 | nibble) } else { high = nibble }
                odd.toggle()
            }
        }

        /// Header (version, strings, stamps) followed by the body.
        func finish() -> [UInt8] {
            var head: [UInt8] = [BinaryCodec.version]
            head.reserveCapacity(64 + body.count)
            Self.varint(UInt64(strings.count), into: &head)
            for var s in strings {
                s.withUTF8 { bytes in
                    Self.varint(UInt64(bytes.count), into: &head)
                    head.append(contentsOf: bytes)
                }
            }
            Self.varint(UInt64(stamps.count), into: &head)
            var last: UInt64 = 0
            for s in stamps {
                Self.varint(UInt64(lookupString(s.dot.replica.rawValue)!), into: &head)
                Self.varint(s.dot.counter, into: &head)
                // Wall times of one record's writes are close: store each as a difference.
                let delta = Int64(bitPattern: s.hlc.wallMillis &- last)
                Self.varint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)), into: &head)
                last = s.hlc.wallMillis
                Self.varint(UInt64(s.hlc.logical), into: &head)
                Self.varint(UInt64(lookupString(s.author.user)!), into: &head)
                Self.varint(UInt64(lookupString(s.author.device)!), into: &head)
            }
            return head + body
        }
    }

    enum Tag: UInt8 {
        case null = 0, boolFalse, boolTrue, integer, decimal, string, date, timestamp, uuid, reference, set, group, elided
    }

    // MARK: - Reading

    struct Reader {
        let bytes: [UInt8]
        let keys: KeyTable
        var at = 0
        var strings: [String] = []
        var stamps: [(dot: Dot, hlc: HLCTimestamp, author: Author)] = []

        init(_ bytes: [UInt8], keys: KeyTable) throws(CoreError) {
            self.bytes = bytes
            self.keys = keys
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

        /// A name written by `Writer.key`.
        mutating func key() throws(CoreError) -> String {
            let n = try varint()
            if n & 1 == 1 {
                guard n >> 1 < UInt64(strings.count) else { throw CoreError.malformed("binary record", "string index") }
                return strings[Int(n >> 1)]
            }
            guard n >> 1 < UInt64(keys.names.count) else { throw CoreError.malformed("binary record", "key index") }
            return keys.names[Int(n >> 1)]
        }

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
                    let k = try key()
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
