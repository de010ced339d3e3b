/// Record ids made offline: UUID version 7 (48-bit millisecond time, then random bits), so ids
/// sort by creation time and inserts stay cheap in SQLite's B-trees.
public enum UUIDv7 {
    /// A new id for the given wall time.
    public static func make(millis: UInt64) -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8((millis >> (8 * (5 - UInt64(i)))) & 0xFF) }
        let random = rng.next() as UInt64
        let random2 = rng.next() as UInt64
        for i in 6..<16 { bytes[i] = UInt8(((i < 14 ? random : random2) >> (8 * UInt64(i % 8))) & 0xFF) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for (i, b) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(i) { out.append(0x2D) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
