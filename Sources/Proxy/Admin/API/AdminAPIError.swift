import Foundation
import RouteStore

/// A refused admin API request: the HTTP status, a stable code for scripts and a message for
/// people, answered as `{"error": {"code": …, "message": …}}`.
struct AdminAPIError: Error, Equatable {
    let status: Int
    let code: String
    let message: String
    /// What only the log gets: the database's or the library's own words behind a 5xx answer.
    let logDetail: String?

    init(_ status: Int, _ code: String, _ message: String, logDetail: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.logDetail = logDetail
    }

    static let unauthorized = AdminAPIError(401, "unauthorized", "sign in with a token: send `Authorization: Bearer <token>` (see `switchboard token create`)")
    static let unknownToken = AdminAPIError(401, "unauthorized", "the token is unknown or revoked")
    static let readOnly = AdminAPIError(403, "read-only-token", "this token is read-only: it may look but not change anything")
    static let notFound = AdminAPIError(404, "not-found", "no such endpoint; the API is described at /v1/openapi.json")

    static func methodNotAllowed(_ allowed: [String]) -> AdminAPIError {
        AdminAPIError(405, "method-not-allowed", "this endpoint takes \(allowed.joined(separator: ", "))")
    }

    static func badRequest(_ message: String) -> AdminAPIError { AdminAPIError(400, "bad-request", message) }

    /// The answer for any error a handler met: the store's and the route form's keep their own
    /// codes and the very messages the CLI prints.
    static func from(_ error: any Error) -> AdminAPIError {
        switch error {
        case let error as AdminAPIError:
            return error
        case let error as RouteStoreError:
            switch error {
            case .unavailable, .database, .migration:
                // Connection strings, hosts and SQL stay in the log, never in an answer.
                return AdminAPIError(
                    status(of: error), error.code, "the store could not answer; the proxy's log has the details", logDetail: error.description)
            default:
                return AdminAPIError(status(of: error), error.code, error.description)
            }
        case let error as RouteFormError:
            return AdminAPIError(400, error.code, error.description)
        case let error as ProxyError:
            return AdminAPIError(502, "upstream-unreachable", error.description)
        default:
            return AdminAPIError(500, "internal", "the request failed; the proxy's log has the details", logDetail: "\(error)")
        }
    }

    private static func status(of error: RouteStoreError) -> Int {
        switch error {
        case .routeNotFound, .keyNotFound, .authorityNotFound, .tokenNotFound: 404
        case .routeExists, .keyExists, .authorityExists, .tokenExists, .sessionNotRunning: 409
        case .unavailable: 503
        case .database, .migration: 500
        default: 400
        }
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
        }
        let error: Detail
    }

    var response: HTTPResponse {
        var response = HTTPResponse.apiJSON(status: status, Body(error: .init(code: code, message: message)))
        if status == 401 { response.headers.append(("WWW-Authenticate", "Bearer")) }
        return response
    }
}
