/// The fields of a public key that follow its type name on the wire (RFC 4253, RFC 5656,
/// RFC 8709), for the key types OpenSSH certificates carry and sign with.
enum PublicKeyFields: Sendable, Equatable {
    case ed25519(publicKey: [UInt8])
    /// `point` is uncompressed: 0x04 || X || Y.
    case ecdsa(curveBits: Int32, point: [UInt8])
    /// Big-endian magnitudes without leading zeros.
    case rsa(exponent: [UInt8], modulus: [UInt8])

    /// The plain key type names these fields can follow.
    static let supportedTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]

    /// Reads the fields of a key of `plainType` (e.g. "ecdsa-sha2-nistp256"), checking their sizes.
    static func read(plainType: String, from reader: inout SSHWireReader) throws(SSHError) -> PublicKeyFields {
        switch plainType {
        case "ssh-ed25519":
            let publicKey = try reader.string()
            guard publicKey.count == 32 else {
                throw SSHError(.protocolError, "an ed25519 public key of \(publicKey.count) bytes, not 32")
            }
            return .ed25519(publicKey: publicKey)
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            let curve = String(plainType.dropFirst("ecdsa-sha2-".count))
            let named = try reader.text()
            guard named == curve else {
                throw SSHError(.protocolError, "a \(plainType) key names the curve \"\(named.prefix(40))\"")
            }
            let curveBits: Int32 = curve == "nistp256" ? 256 : curve == "nistp384" ? 384 : 521
            let point = try reader.string()
            let fieldBytes = (Int(curveBits) + 7) / 8
            guard point.count == 1 + 2 * fieldBytes, point.first == 0x04 else {
                throw SSHError(.protocolError, "a \(curve) point of \(point.count) bytes is not an uncompressed point")
            }
            return .ecdsa(curveBits: curveBits, point: point)
        case "ssh-rsa":
            let exponent = try reader.mpint()
            let modulus = try reader.mpint()
            guard !exponent.isEmpty, !modulus.isEmpty else { throw SSHError(.protocolError, "an RSA key with a zero exponent or modulus") }
            return .rsa(exponent: exponent, modulus: modulus)
        default:
            throw SSHError(.protocolError, "unsupported key type \"\(plainType.prefix(60))\"")
        }
    }

    /// The number of significant bits in a big-endian magnitude without leading zeros.
    static func bitCount(_ magnitude: [UInt8]) -> Int {
        guard let first = magnitude.first else { return 0 }
        return (magnitude.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }
}
