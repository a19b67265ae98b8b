import Foundation
import SSH

/// OpenSSH certificate blobs (`OpenSSHCertificate(blob:)`), as clients present them. Promises: a
/// blob that decodes encodes back to exactly its bytes, with the signature last; the same
/// bytes in base64 decode the same; one byte fewer never decodes; checking the signature
/// fails or passes but never crashes.
enum OpenSSHCertificateTarget {
    static func run(_ bytes: [UInt8]) {
        guard let certificate = try? OpenSSHCertificate(blob: bytes) else { return }
        require(certificate.blob == bytes, "decoded \(bytes.count) bytes, encoded back as \(certificate.blob.count) other bytes")
        require(bytes.starts(with: certificate.signedBytes), "the signed bytes are not the start of the blob")
        require(certificate.plainKeyType + "-cert-v01@openssh.com" == certificate.keyType, "plain type \(certificate.plainKeyType)")
        let again = try? OpenSSHCertificate(base64: Data(bytes).base64EncodedString())
        require(again == certificate, "the base64 form decodes differently")
        require((try? OpenSSHCertificate(blob: Array(bytes.dropLast()))) == nil, "the blob without its last byte decodes")
        _ = try? certificate.verifySignature()
        for option in certificate.criticalOptions + certificate.extensions { _ = option.textValue }
    }
}
