import CCertCrypto

/// Checking the CA's signature over a certificate, with OpenSSL (CCertCrypto).
extension OpenSSHCertificate {
    /// Checks the signature over `signedBytes` with `signatureKey`. CA keys: ed25519,
    /// ecdsa-sha2-nistp256/384/521, and RSA of at least 2048 bits signing with rsa-sha2-256 or
    /// rsa-sha2-512 (SHA-1 "ssh-rsa" signatures are refused, as OpenSSH refuses them by
    /// default). The signature's algorithm must belong to the CA key's type; a CA key that is
    /// itself a certificate is refused; neither blob may have bytes left over. A signature that
    /// does not verify is an `.authentication` error, a malformed blob a `.protocolError`.
    public func verifySignature() throws(SSHError) {
        var keyReader = SSHWireReader(signatureKey)
        let caType: String
        let caKey: PublicKeyFields
        var signatureReader = SSHWireReader(signature)
        let algorithm: String
        let signatureBytes: [UInt8]
        do throws(SSHError) {
            caType = try keyReader.text()
            guard !caType.hasSuffix(Self.typeSuffix) else {
                throw SSHError(.protocolError, "the CA key is itself a certificate (\(caType.prefix(60)))")
            }
            caKey = try PublicKeyFields.read(plainType: caType, from: &keyReader)
            try keyReader.expectEnd()
            algorithm = try signatureReader.text()
            signatureBytes = try signatureReader.string()
            try signatureReader.expectEnd()
        } catch {
            throw SSHError(error.code, "certificate signature: \(error.message)")
        }
        let message = signedBytes
        let verdict: Int32
        switch caKey {
        case .ed25519(let publicKey):
            try Self.require(algorithm == "ssh-ed25519", algorithm, for: caType)
            guard signatureBytes.count == 64 else {
                throw SSHError(.protocolError, "certificate signature: an ed25519 signature of \(signatureBytes.count) bytes, not 64")
            }
            verdict = switchboard_ed25519_verify(publicKey, signatureBytes, message, message.count)
        case .ecdsa(let curveBits, let point):
            try Self.require(algorithm == caType, algorithm, for: caType)
            var numbers = SSHWireReader(signatureBytes)
            let r: [UInt8]
            let s: [UInt8]
            do {
                r = try numbers.mpint()
                s = try numbers.mpint()
                try numbers.expectEnd()
            } catch {
                throw SSHError(error.code, "certificate signature: ECDSA r and s: \(error.message)")
            }
            verdict = switchboard_ecdsa_verify(curveBits, point, point.count, r, r.count, s, s.count, message, message.count)
        case .rsa(let exponent, let modulus):
            let hashBits: Int32
            switch algorithm {
            case "rsa-sha2-256": hashBits = 256
            case "rsa-sha2-512": hashBits = 512
            case "ssh-rsa":
                throw SSHError(
                    .authentication,
                    "certificate signature: the CA signed with ssh-rsa (SHA-1), which is refused; sign with rsa-sha2-256 or rsa-sha2-512")
            default:
                try Self.require(false, algorithm, for: caType)
                return
            }
            let bits = PublicKeyFields.bitCount(modulus)
            guard bits >= 2048 else {
                throw SSHError(.authentication, "certificate signature: the CA's RSA key has \(bits) bits; at least 2048 are required")
            }
            verdict = switchboard_rsa_verify(
                modulus, modulus.count, exponent, exponent.count, hashBits, signatureBytes, signatureBytes.count, message, message.count)
        }
        switch verdict {
        case 1: return
        case 0: throw SSHError(.authentication, "certificate signature: does not verify with the CA key \(caFingerprint)")
        default: throw SSHError(.authentication, "certificate signature: the CA key \(caFingerprint) (\(caType)) cannot be used")
        }
    }

    /// Throws unless the signature's algorithm belongs to the CA key's type.
    private static func require(_ matches: Bool, _ algorithm: String, for caType: String) throws(SSHError) {
        guard matches else {
            throw SSHError(.protocolError, "certificate signature: algorithm \"\(algorithm.prefix(60))\" does not belong to a \(caType) CA key")
        }
    }
}
