import Foundation

/// The proxy's signing CAs, the trusted client CAs and the revocations, as the `ca` commands
/// change them. Each change checks the current state in the same transaction it writes in.
extension SQLRouteStore: CertificateLookup {
    // MARK: Signing CAs

    public func signingAuthority() throws(RouteStoreError) -> SigningAuthority? {
        try signingAuthorities(where: "state = 'signing'").first
    }

    /// The CAs upstreams should trust now: the signing one and, during a rotation, the next one.
    public func activeSigningAuthorities() throws(RouteStoreError) -> [SigningAuthority] {
        try signingAuthorities(where: "state <> 'retired'")
    }

    /// Every signing CA this store has known, retired ones included, oldest first.
    public func allSigningAuthorities() throws(RouteStoreError) -> [SigningAuthority] {
        try signingAuthorities(where: "1 = 1")
    }

    /// Records the first CA (`ca init`): refused if one exists.
    public func addFirstSigningAuthority(_ authority: SigningAuthority) throws(RouteStoreError) -> SigningAuthority {
        try database.transaction { () throws(RouteStoreError) in
            guard try activeSigningAuthorities().isEmpty else {
                throw .authorityExists("the proxy already has a signing CA; use `switchboard ca rotate` to replace it")
            }
            return try insert(authority, state: .signing)
        }
    }

    /// Records the next CA (`ca rotate`): needs a signing one and no rotation under way.
    public func addNextSigningAuthority(_ authority: SigningAuthority) throws(RouteStoreError) -> SigningAuthority {
        try database.transaction { () throws(RouteStoreError) in
            let active = try activeSigningAuthorities()
            guard active.contains(where: { $0.state == .signing }) else {
                throw .invalidAuthority("the proxy has no signing CA yet; run `switchboard ca init`")
            }
            guard !active.contains(where: { $0.state == .next }) else {
                throw .authorityExists("a rotation is already under way; finish it with `switchboard ca retire` first")
            }
            return try insert(authority, state: .next)
        }
    }

    /// Ends a rotation (`ca retire`): the signing CA is retired (its private key is forgotten)
    /// and the next one signs. Returns both.
    public func retireSigningAuthority() throws(RouteStoreError) -> (retired: SigningAuthority, signing: SigningAuthority) {
        try database.transaction { () throws(RouteStoreError) in
            let active = try activeSigningAuthorities()
            guard var old = active.first(where: { $0.state == .signing }) else {
                throw .invalidAuthority("the proxy has no signing CA; run `switchboard ca init`")
            }
            guard var next = active.first(where: { $0.state == .next }) else {
                throw .invalidAuthority("no rotation is under way: run `switchboard ca rotate` first, and retire once every upstream trusts the new CA")
            }
            let now = Date()
            try database.query(
                "UPDATE signing_cas SET state = 'retired', retired_at = ?, key_file = NULL, key_encrypted = NULL WHERE id = ?",
                [.text(Timestamp.format(now)), .integer(Int(old.id))])
            try database.query("UPDATE signing_cas SET state = 'signing' WHERE id = ?", [.integer(Int(next.id))])
            old.state = .retired
            old.retiredAt = now
            next.state = .signing
            return (old, next)
        }
    }

    private func insert(_ authority: SigningAuthority, state: SigningAuthority.State) throws(RouteStoreError) -> SigningAuthority {
        guard (authority.keyFile == nil) != (authority.encryptedKey == nil) else {
            throw .invalidAuthority("a signing CA needs exactly one of a key file and an encrypted key")
        }
        let fingerprint = try RouteValidation.fingerprint(authority.fingerprint)
        var id: Int64 = 0
        try database.query(
            """
            INSERT INTO signing_cas (public_key, fingerprint, key_file, key_encrypted, state, created_at)
            VALUES (?, ?, ?, ?, ?, ?) RETURNING id
            """,
            [.text(authority.publicKey), .text(fingerprint), .optionalText(authority.keyFile), .optionalText(authority.encryptedKey),
             .text(state.rawValue), .text(Timestamp.format(authority.createdAt))]
        ) { row in id = Int64(row.integer(0)) }
        var stored = authority
        stored.id = id
        stored.state = state
        return stored
    }

    private func signingAuthorities(where condition: String) throws(RouteStoreError) -> [SigningAuthority] {
        var found: [SigningAuthority] = []
        try database.query(
            """
            SELECT id, public_key, fingerprint, key_file, key_encrypted, state, created_at, retired_at
            FROM signing_cas WHERE \(condition) ORDER BY id
            """, []
        ) { row in
            found.append(SigningAuthority(
                id: Int64(row.integer(0)), publicKey: row.text(1) ?? "", fingerprint: row.text(2) ?? "", keyFile: row.text(3),
                encryptedKey: row.text(4), state: row.text(5).flatMap(SigningAuthority.State.init(rawValue:)) ?? .retired,
                createdAt: Timestamp.parse(row.text(6) ?? ""), retiredAt: row.text(7).map(Timestamp.parse)))
        }
        return found
    }

    // MARK: Trusted client CAs

    public func trustedClientAuthority(fingerprint: String) throws(RouteStoreError) -> TrustedClientAuthority? {
        try clientAuthorities(where: "fingerprint = ?", [.text(fingerprint)]).first
    }

    public func trustedClientAuthorities() throws(RouteStoreError) -> [TrustedClientAuthority] {
        try clientAuthorities(where: "1 = 1", [])
    }

    /// Trusts a client CA (`ca trust-client`); refused if the name or the key is already trusted.
    public func trustClientAuthority(_ authority: TrustedClientAuthority) throws(RouteStoreError) {
        let name = try RouteValidation.authorityName(authority.name)
        let fingerprint = try RouteValidation.fingerprint(authority.fingerprint)
        try database.transaction { () throws(RouteStoreError) in
            if !(try clientAuthorities(where: "name = ?", [.text(name)]).isEmpty) {
                throw .authorityExists("a client CA named \"\(name)\" is already trusted")
            }
            if let existing = try trustedClientAuthority(fingerprint: fingerprint) {
                throw .authorityExists("this key is already trusted as client CA \"\(existing.name)\"")
            }
            try database.query(
                "INSERT INTO client_cas (name, key_type, key_base64, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)",
                [.text(name), .text(authority.keyType), .text(authority.keyBase64), .text(fingerprint),
                 .text(Timestamp.format(authority.createdAt))])
        }
    }

    /// Stops trusting a client CA (`ca untrust-client`); its revocations go with it.
    public func untrustClientAuthority(named name: String) throws(RouteStoreError) {
        try database.transaction { () throws(RouteStoreError) in
            guard try database.query("DELETE FROM client_cas WHERE name = ?", [.text(name)]) > 0 else { throw .authorityNotFound(name) }
            try database.query("DELETE FROM certificate_revocations WHERE ca_name = ?", [.text(name)])
        }
    }

    private func clientAuthorities(where condition: String, _ bindings: [SQLValue]) throws(RouteStoreError) -> [TrustedClientAuthority] {
        var found: [TrustedClientAuthority] = []
        try database.query(
            "SELECT name, key_type, key_base64, fingerprint, created_at FROM client_cas WHERE \(condition) ORDER BY name", bindings
        ) { row in
            found.append(TrustedClientAuthority(
                name: row.text(0) ?? "", keyType: row.text(1) ?? "", keyBase64: row.text(2) ?? "", fingerprint: row.text(3) ?? "",
                createdAt: Timestamp.parse(row.text(4) ?? "")))
        }
        return found
    }

    // MARK: Revocations

    /// Revokes certificates by serial or key id (`ca revoke`), for one named client CA (which
    /// must be trusted) or for all.
    public func revoke(_ revocation: CertificateRevocation) throws(RouteStoreError) -> CertificateRevocation {
        if case .keyID(let keyID) = revocation.match { _ = try RouteValidation.certificateKeyID(keyID) }
        return try database.transaction { () throws(RouteStoreError) in
            if let name = revocation.authority, try clientAuthorities(where: "name = ?", [.text(name)]).isEmpty {
                throw .authorityNotFound(name)
            }
            let (serial, keyID): (String?, String?) = switch revocation.match {
            case .serial(let serial): (String(serial), nil)
            case .keyID(let keyID): (nil, keyID)
            }
            var id: Int64 = 0
            try database.query(
                "INSERT INTO certificate_revocations (ca_name, serial, key_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                [.optionalText(revocation.authority), .optionalText(serial), .optionalText(keyID), .text(Timestamp.format(revocation.createdAt))]
            ) { row in id = Int64(row.integer(0)) }
            var stored = revocation
            stored.id = id
            return stored
        }
    }

    public func revocations() throws(RouteStoreError) -> [CertificateRevocation] {
        var found: [CertificateRevocation] = []
        try database.query("SELECT id, ca_name, serial, key_id, created_at FROM certificate_revocations ORDER BY id", []) { row in
            let match: CertificateRevocation.Match
            if let serial = row.text(2).flatMap({ UInt64($0) }) {
                match = .serial(serial)
            } else {
                match = .keyID(row.text(3) ?? "")
            }
            found.append(CertificateRevocation(
                id: Int64(row.integer(0)), authority: row.text(1), match: match, createdAt: Timestamp.parse(row.text(4) ?? "")))
        }
        return found
    }

    public func isCertificateRevoked(authority: String, serial: UInt64, keyID: String) throws(RouteStoreError) -> Bool {
        var found = false
        try database.query(
            """
            SELECT 1 FROM certificate_revocations
            WHERE (ca_name IS NULL OR ca_name = ?) AND (serial = ? OR key_id = ?) LIMIT 1
            """, [.text(authority), .text(String(serial)), .text(keyID)]
        ) { _ in found = true }
        return found
    }
}
