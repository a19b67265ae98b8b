import Foundation
import RouteStore

/// A request's JSON object, read field by field with clear refusals: a field the endpoint does
/// not know, or one of the wrong type, is refused by name instead of being ignored.
struct JSONBody {
    /// One field's value; arrays and objects are never valid field values here.
    enum Value: Codable, Equatable {
        case text(String)
        case number(Double)
        case flag(Bool)
        case null
        case unsupported

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .unsupported
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .number(let number): try container.encode(number)
            case .flag(let flag): try container.encode(flag)
            case .null, .unsupported: try container.encodeNil()
            }
        }
    }

    private let fields: [String: Value]

    /// Reads `bytes` as one JSON object whose keys are all among `allowed`.
    init(_ bytes: [UInt8], allowed: Set<String>) throws(AdminAPIError) {
        guard !bytes.isEmpty else { throw .badRequest("the request needs a JSON object as its body") }
        guard let fields = try? JSONDecoder().decode([String: Value].self, from: Data(bytes)) else {
            throw .badRequest("the body is not a JSON object of strings, numbers and booleans")
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .badRequest("unknown field \(quoted(unknown, limit: 60)); the fields are \(allowed.sorted().joined(separator: ", "))")
        }
        self.fields = fields
    }

    var isEmpty: Bool { fields.isEmpty }

    private func value(_ name: String) -> Value? {
        guard let value = fields[name], value != .null else { return nil }
        return value
    }

    /// A string field; null counts as absent.
    func text(_ name: String) throws(AdminAPIError) -> String? {
        guard let value = value(name) else { return nil }
        guard case .text(let text) = value else { throw .badRequest("field \(name) must be a string") }
        return text
    }

    /// A string or a whole number, as text (ports, session limits).
    func textOrNumber(_ name: String) throws(AdminAPIError) -> String? {
        switch value(name) {
        case nil: return nil
        case .text(let text): return text
        case .number(let number) where Int(exactly: number) != nil: return String(Int(number))
        default: throw .badRequest("field \(name) must be a string or a whole number")
        }
    }

    func integer(_ name: String) throws(AdminAPIError) -> Int? {
        switch value(name) {
        case nil: return nil
        case .number(let number) where Int(exactly: number) != nil: return Int(number)
        default: throw .badRequest("field \(name) must be a whole number")
        }
    }

    func flag(_ name: String) throws(AdminAPIError) -> Bool? {
        switch value(name) {
        case nil: return nil
        case .flag(let flag): return flag
        default: throw .badRequest("field \(name) must be true or false")
        }
    }

    /// The body again as compact JSON, for the record of changes; a body over 4 KiB is recorded
    /// by its field names only, so the record stays valid JSON.
    var recordText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(fields) else { return "{}" }
        if data.count <= 4096 { return String(decoding: data, as: UTF8.self) }
        let summary = ["truncated": JSONBody.Value.flag(true), "fields": .text(fields.keys.sorted().joined(separator: ","))]
        return (try? encoder.encode(summary)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
